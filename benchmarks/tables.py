"""Markdown tables for README and docs/model-card.md, made from the committed benchmark results.

    python benchmarks/tables.py > /tmp/tables.md

Every figure the docs quote comes from one of the JSON files this reads; re-run the benchmark that
wrote a file to refresh it, then this script to refresh the tables.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy_tables() -> str:
    out = []
    for model, entry in load("accuracy.json").items():
        rows = [
            [path.replace("_", " "), f"{r['accuracy']:.4f}", f"{r['balanced_accuracy']:.4f}", f"{r['macro_f1']:.4f}"]
            for path, r in entry["results"].items()
        ]
        out.append(
            f"### {model} on {entry['split']}\n\n" + table(["inference path", "accuracy", "balanced", "macro F1"], rows)
        )
        metrics = json.loads((RESULTS / model / "onnx_shipped_flip" / "metrics.json").read_text())
        per_class = [
            [label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
            for label, c in metrics["per_class"].items()
        ]
        out.append(table(["class", "precision", "recall", "F1", "support"], per_class))
    return "\n\n".join(out)


def detection_table() -> str:
    result = load("detection.json")
    rows = [
        [
            name,
            f"{r['found']}/{r['boxes']}",
            r["false_detections"],
            r["unboxed_small"],
            r["faces_in"]["bald_guys.jpg"],
            r["faces_in"]["selfie-many-people.jpg"],
            f"{r['portraits_with_face']}/{r['portraits']}",
            f"{r['ms_640x480']:.1f}",
        ]
        for name, r in result["detectors"].items()
    ]
    header = ["detector", "boxed faces found", "false", "unboxed < 30 px", "crowd", "selfie", "portraits with a face"]
    header.append("ms 640x480")
    return table(header, rows)


def analyze_tables(name: str = "analyze_speed.json") -> str:
    result = load(name)
    systems = result["results"]
    photos = list(systems["moodlens"]["ms_per_photo"])
    rows = []
    for name, r in systems.items():
        if "error" in r:
            rows.append([name, *["failed"] * (len(photos) + 3)])
            continue
        cells = [f"{r['ms_per_photo'][p]:.0f} ({r['faces_found'][p]})" for p in photos]
        rows.append(
            [
                name,
                *cells,
                f"{r['video_frames_per_s']:.1f}",
                f"{r['portraits']['accuracy']:.3f}",
                f"{r['faces']['accuracy']:.4f}",
            ]
        )
    header = [
        "system",
        *[f"ms/photo: {p} (faces found)" for p in photos],
        "video frames/s",
        "muxspace photos acc.",
        "FER-2013 PublicTest faces acc.",
    ]
    speed = result["meta"]["classification_faces_per_s"]
    memory = result["meta"]["video_peak_rss_mb"]
    lines = [
        table(header, rows),
        "Classification alone (default model, int8 ONNX, no TTA): "
        + ", ".join(f"{k.replace('_', ' ')}: {v:.0f} faces/s" for k, v in speed.items())
        + f"; threads: {result['meta']['machine']['threads']} ({result['meta']['machine']['cpu']}, "
        + f"{result['meta']['machine'].get('isa_seen', 'avx512').upper()} kernels).",
        "Peak memory of `moodlens analyze` on a video: "
        + ", ".join(f"{k}: {v:.0f} MB" for k, v in memory.items())
        + ".",
    ]
    return "\n\n".join(lines)


def serve_table() -> str:
    r = load("serve_load.json")
    rows = []
    for name in ("photos", "live"):
        case = r["cases"][name]
        live = case.get("live", {})
        rows.append(
            [
                name,
                case["http_clients"],
                case["live_clients"],
                f"{case['requests_per_s']:.1f}",
                f"{case['latency_ms']['p50']:.0f}",
                f"{case['latency_ms']['p99']:.0f}",
                json.dumps(case["status_counts"]),
                f"{live['accepted']} / {live.get('closed_1013', 0)} / {live['answered']} / {live['busy']}"
                if live
                else "",
                f"{case['server_memory_mb']['peak_rss']:.0f}",
            ]
        )
    header = ["case", "HTTP clients", "live clients", "requests/s", "p50 ms", "p99 ms", "HTTP statuses"]
    header += ["live sockets accepted / refused (1013) / frames answered / busy", "peak RSS MB"]
    large = r["cases"]["large_images"]
    memory = large["server_memory_mb"]
    note = (
        f"{large['clients']} clients at once posting a {large['png_bytes'] / 1000:.0f} kB PNG of "
        f"{large['megapixels']:.1f} megapixels: {json.dumps(large['status_counts'])}, server RSS "
        f"{memory['idle_rss']:.0f} MB idle, {memory['peak_rss']:.0f} MB at its peak, "
        f"{memory['rss_after']:.0f} MB after."
    )
    return table(header, rows) + "\n\n" + note


def crowd_table() -> str:
    result = load("crowd_detection.json")
    rows = []
    for name, r in result["detectors"].items():
        by_width = [f"{r['recall_by_width'][w]:.2f}" for w in ("<8", "8-16", "16-32", ">=32")]
        ms = [f"{r['ms'][k]:.0f}" for k in ("crowd_416", "frame_640x480", "photo_640x480", "photo_12mp")]
        dlib = f"{r['dlib']['found']}/{r['dlib']['boxes']}, {r['dlib']['false_detections']} false"
        dlib += f" (+{r['dlib']['unboxed_small']} small)"
        recall = [f"{r['recall_8px_and_more']:.3f}", f"{r['recall_16px_and_more']:.3f}", f"{r['precision']:.3f}"]
        mosaic = r["12mp"]
        mosaic = [f"{mosaic['recall_8px_and_more']:.3f} / {mosaic['precision']:.3f}", mosaic["detections"]]
        rows.append([name, *recall, *by_width, dlib, *ms, *mosaic])
    header = ["detector", "recall >= 8 px", "recall >= 16 px", "precision", "< 8", "8-16", "16-32", ">= 32"]
    header += ["dlib boxes", "ms 416 crowd", "ms 640x480 frame", "ms 640x480 photo", "ms 12 MP"]
    header += ["12 MP recall >= 8 px / precision", "faces in 12 MP"]
    whole = [
        [f"--crowd {mode}", f"{r['frame_640x480_ms']:.0f}", r["frame_faces"], f"{r['12mp_ms']:.0f}", r["12mp_faces"]]
        for mode, r in result["end_to_end_by_crowd_mode"].items()
    ]
    end_to_end = table(["analysis", "ms 640x480 video frame", "faces", "ms 12 MP photo", "faces"], whole)
    return table(header, rows) + "\n\n" + end_to_end


def suite_table() -> str:
    """The shipped models and the cross-validations of `default` and `balanced`.

    suite.json holds the runs before session 14; suite_photos_r8u.json the default of sessions 15 to 17 and
    its cross-validation; suite_photos_r8l.json the shipped `default` (it overrides the earlier rows) and its
    cross-validation; suite_photos_r8s.json `balanced`'s.
    """
    rows = []
    scored = {
        **load("suite.json"),
        **load("suite_photos_r8s.json"),
        **load("suite_photos_r8u.json"),
        **load("suite_photos_r8l.json"),
    }
    for model, sets in scored.items():
        muxspace = sets.get("muxspace") or sets.get("muxspace_folds")
        row = [model]
        for name in ("ferplus", "fer2013"):
            row.append(f"{sets[name]['accuracy']:.4f} / {sets[name]['macro_f1']:.3f}" if name in sets else "-")
        if muxspace:
            recalls = ", ".join(f"{k} {v:.2f}" for k, v in muxspace["recall"].items())
            row += [f"{muxspace['accuracy']:.4f} / {muxspace['macro_f1']:.3f}", recalls]
        else:
            row += ["trained on them", "-"]
        rows.append(row)
    header = ["model", "FER+ valid acc. / macro F1", "FER-2013 PublicTest", "muxspace photos", "muxspace recall"]
    return table(header, rows)


def train_speed_table() -> str:
    rows = []
    for name in ("train_speed.json", "train_speed_no_amx.json"):
        result = load(name)
        machine = result["machine"]
        amx = {True: "yes", False: "no"}.get(machine.get("amx"), "not recorded")
        for r in result["results"]:
            speeds = [round(r["fp32_images_per_s"]), round(r.get("bf16_images_per_s", 0)) or "-"]
            rows.append([name, amx, r["model"], r["width"], f"{r['params']:,}", r["mflops_per_face"], *speeds])
    header = ["file", "AMX", "model", "width", "parameters", "MFLOPs/face", "fp32 images/s", "bf16 images/s"]
    return table(header, rows)


def main() -> None:
    sections = {
        "training speed (benchmarks/train_speed.py)": train_speed_table,
        "accuracy (benchmarks/accuracy.py)": accuracy_tables,
        "detection (benchmarks/detection.py)": detection_table,
        "crowd detection (benchmarks/crowd_detection.py)": crowd_table,
        "validation suite (benchmarks/suite.py)": suite_table,
        "analysis and peers (benchmarks/analyze_speed.py)": analyze_tables,
        "analysis and peers, AVX-512 hidden (benchmarks/avx2_only/run.sh ... analyze_speed.py)": lambda: analyze_tables(
            "analyze_speed_avx2_only.json"
        ),
        "server load (benchmarks/serve_load.py)": serve_table,
    }
    for title, make in sections.items():
        try:
            print(f"## {title}\n\n{make()}\n")
        except FileNotFoundError as e:
            print(f"## {title}\n\nnot measured yet: {e.filename}\n")


if __name__ == "__main__":
    main()
