"""How fast moodlens analyses photos and video, and the same work done by peer packages in one run.

    make peers                                  # once: the peers' own venv (.venv-peers)
    python benchmarks/analyze_speed.py [--threads 2] [--out benchmarks/results/analyze_speed.json]

Measures accuracy on FER-2013 PublicTest faces (classifiers alone, each peer through its own
preprocessing), classification speed (faces/s at batch 1, 32 and 256 through ONNX Runtime), milliseconds per
decoded photo end to end with 1, about 6 and about 30 faces, video frames/s (decoding included), and
accuracy on 300 uncropped muxspace photos (largest face; a photo with no face found counts as wrong; ours
read by PORTRAIT_MODEL, which never saw them).
Every peer in .venv-peers does the same work with its own detector and model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.cbook
import numpy as np
from paths import SHARED
from timing import machine

from moodlens import Analyzer
from moodlens.data.faces import load_dataset
from moodlens.data.readers import list_dataset
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.imaging import read_image
from moodlens.runtime.video import VideoSource, analyze_frames
from moodlens.runtime.weights import resolve_onnx

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("fer", "facex", "facial-emotion-recognition")
# `default` learnt from the muxspace photos (its figure on photos it never saw is the cross-validation of
# benchmarks/results/suite.json), so the portraits are read by `ferplus`, the same network before it saw them.
PORTRAIT_MODEL = "ferplus"


def workload(tmp: Path, portraits: int, repeats: int) -> dict:
    import cv2

    photos = {
        "1 face (grace_hopper.jpg)": str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
        "7 faces (selfie-many-people.jpg)": str(SHARED / "faces/deepface/selfie-many-people.jpg"),
        "about 30 faces (bald_guys.jpg)": str(SHARED / "faces/dlib/bald_guys.jpg"),
    }
    listing = list_dataset(SHARED / "muxspace")
    items = [i for i in listing.items if i.label != "contempt"][:portraits]
    video = tmp / "pan.mp4"
    selfie = read_image(photos["7 faces (selfie-many-people.jpg)"])
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(60):
        frame = cv2.resize(selfie[:, 2 * i : 2 * i + 480], (640, 480))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    faces = [(i.key, i.label) for i in list_dataset(SHARED / "fer2013" / "val").items]
    return {
        "photos": photos,
        "portraits": [(i.key, i.label) for i in items],
        "faces": faces,
        "video": str(video),
        "repeats": repeats,
    }


def video_memory(tmp: Path, frames: int) -> float:
    """Peak resident memory (MB) of `moodlens analyze` on a video of `frames` frames, run as a user would."""
    import cv2

    selfie = read_image(SHARED / "faces/deepface/selfie-many-people.jpg")
    video = tmp / f"long-{frames}.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    for i in range(frames):
        shift = i % 120
        writer.write(cv2.cvtColor(cv2.resize(selfie[:, shift : shift + 480], (640, 480)), cv2.COLOR_RGB2BGR))
    writer.release()
    # VmHWM, not ru_maxrss: Linux carries a parent's peak into the maxrss of a child it forks, this one's included
    script = (
        "import sys; from moodlens.cli import main; main(sys.argv[1:]); "
        "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))"
    )
    cmd = [
        sys.executable,
        "-c",
        script,
        "analyze",
        str(video),
        "--json",
        str(tmp / "v.json"),
        "--summary",
        str(tmp / "s"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def classification_speed(threads: int) -> dict:
    model = OnnxClassifier(resolve_onnx("default"), threads=threads)
    faces = load_dataset(SHARED / "fer2013" / "val", 48, 1).images[:2048]
    speed = {}
    for batch in (1, 32, 256):
        model.predict(faces[:batch], batch_size=batch)
        count = 256 if batch == 1 else len(faces)
        start = time.perf_counter()
        model.predict(faces[:count], batch_size=batch)
        speed[f"batch_{batch}"] = count / (time.perf_counter() - start)
    return speed


def ours(work: dict, threads: int) -> dict:
    analyzer = Analyzer(threads=threads)
    result = {"ms_per_photo": {}, "faces_found": {}}
    crops = np.stack([read_image(path)[:, :, :1] for path, _ in work["faces"]])  # grey PNGs, as trained
    labels = np.array([analyzer.labels.index(label) for _, label in work["faces"]])
    start = time.perf_counter()
    predicted = analyzer.classifier.predict(crops, tta=analyzer.tta).argmax(1)
    seconds = time.perf_counter() - start
    result["faces"] = {"count": len(labels), "accuracy": float((predicted == labels).mean()), "s": seconds}
    for label, path in work["photos"].items():
        image = read_image(path)
        result["faces_found"][label] = len(analyzer.analyze(image).faces)
        times = []
        for _ in range(work["repeats"]):
            start = time.perf_counter()
            analyzer.analyze(image)
            times.append(time.perf_counter() - start)
        result["ms_per_photo"][label] = float(np.median(times) * 1000)
    correct = no_face = 0
    portrait_analyzer = Analyzer(PORTRAIT_MODEL, threads=threads)
    for path, label in work["portraits"]:
        faces = portrait_analyzer.analyze(path).faces
        no_face += not faces
        correct += bool(faces) and max(faces, key=lambda f: f.box[2] * f.box[3]).emotion == label
    result["portraits"] = {
        "model": PORTRAIT_MODEL,
        "photos": len(work["portraits"]),
        "no_face": no_face,
        "accuracy": correct / len(work["portraits"]),
    }
    start = time.perf_counter()
    frames = sum(1 for _ in analyze_frames(analyzer, VideoSource(work["video"]).frames(), "pan"))
    result["video_frames_per_s"] = frames / (time.perf_counter() - start)
    return result


def peer(name: str, work_file: Path, threads: int) -> dict:
    python = ROOT / ".venv-peers" / "bin" / "python"
    if not python.exists():
        return {"peer": name, "error": "not installed: run `make peers`"}
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    if name == "facial-emotion-recognition":  # its torchvision import fails beside torch 2.13: see peer_shims
        env["PYTHONPATH"] = str(ROOT / "benchmarks" / "peer_shims")
    done = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "peers_run.py"), name, str(work_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if done.returncode != 0:
        return {"peer": name, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--portraits", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/analyze_speed.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = workload(Path(tmp), args.portraits, args.repeats)
        work_file = Path(tmp) / "workload.json"
        work_file.write_text(json.dumps(work))
        results = {"moodlens": ours(work, args.threads)}
        print("moodlens", json.dumps(results["moodlens"]))
        for name in PEERS:
            results[name] = peer(name, work_file, args.threads)
            print(name, json.dumps(results[name]))
    mine = results["moodlens"]
    for name in PEERS:
        if "error" not in results[name]:
            theirs = results[name]
            results[name]["moodlens_speedup"] = {
                label: theirs["ms_per_photo"][label] / mine["ms_per_photo"][label] for label in mine["ms_per_photo"]
            }
            results[name]["moodlens_video_speedup"] = mine["video_frames_per_s"] / theirs["video_frames_per_s"]
    meta = {
        "machine": machine(args.threads),
        "classification_faces_per_s": classification_speed(args.threads),
        "portraits": f"first {args.portraits} non-contempt photos of ../shared/data/muxspace legend.csv",
    }
    with tempfile.TemporaryDirectory() as tmp:
        meta["video_peak_rss_mb"] = {f"{n} frames": video_memory(Path(tmp), n) for n in (100, 1000)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
