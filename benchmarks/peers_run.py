"""The analysis workload of benchmarks/analyze_speed.py, done by a peer package (run in the peers' venv).

    .venv-peers/bin/python benchmarks/peers_run.py PEER WORKLOAD.json

PEER is fer, facex or facial-emotion-recognition; each detects faces with its own detector and
classifies them with its own model, as its documentation shows. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

# Each peer's labels mapped to ours.
LABELS = {
    "anger": "angry",
    "sadness": "sad",
    "surprised": "surprise",
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}


def load_peer(name: str):
    """(analyze, classify): BGR image -> [(box x, y, w, h; label in our names)], and a face crop -> label."""
    if name == "fer":
        from fer.fer import FER

        detector = FER(mtcnn=False)

        def labelled(bgr, rectangles=None):
            found = detector.detect_emotions(bgr, face_rectangles=rectangles)
            return [(tuple(f["box"]), LABELS[max(f["emotions"], key=f["emotions"].get)]) for f in found]

        return labelled, lambda bgr: labelled(bgr, [(0, 0, bgr.shape[1], bgr.shape[0])])[0][1]
    if name == "facex":
        from importlib import resources

        from facex import EmotionClassifier

        classifier = EmotionClassifier(str(resources.files("facex") / "assets" / "model_optimized.tflite"))

        def classify(bgr):
            scores = classifier.detect_emotion(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
            return LABELS[max(scores, key=scores.get)]

        return lambda bgr: [
            (tuple(int(v) for v in p["bbox"]), LABELS[max(p["emot"], key=p["emot"].get)])
            for p in classifier.predict(bgr)
        ], classify
    if name == "facial-emotion-recognition":
        import functools

        import torch

        # Its weights were pickled on a GPU and are loaded without map_location: map them to the CPU.
        torch.load = functools.partial(torch.load, map_location="cpu", weights_only=False)
        from facial_emotion_recognition import EmotionRecognition

        recognizer = EmotionRecognition(device="cpu")

        def run(bgr):  # recognise_emotion only returns a drawn frame: the same two steps, keeping the labels
            boxes, _ = recognizer.mtcnn.detect(bgr)
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            out = []
            for x1, y1, x2, y2 in [] if boxes is None else np.asarray(boxes, float).round().astype(int):
                x1, y1 = max(0, x1), max(0, y1)
                if x2 > x1 and y2 > y1:
                    out.append(((x1, y1, x2 - x1, y2 - y1), recognizer._predict(gray[y1:y2, x1:x2]).lower()))
            return out

        return run, lambda bgr: recognizer._predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).lower()
    raise SystemExit(f"unknown peer {name}")


def main() -> None:
    name, workload = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    analyze, classify = load_peer(name)
    result = {"peer": name, "ms_per_photo": {}, "faces_found": {}}
    faces = workload["faces"]
    start = time.perf_counter()
    correct = sum(classify(cv2.imread(path)) == label for path, label in faces)
    result["faces"] = {"count": len(faces), "accuracy": correct / len(faces), "s": time.perf_counter() - start}
    for label, path in workload["photos"].items():
        bgr = cv2.imread(path)
        result["faces_found"][label] = len(analyze(bgr))
        times = []
        for _ in range(workload["repeats"]):
            start = time.perf_counter()
            analyze(bgr)
            times.append(time.perf_counter() - start)
        result["ms_per_photo"][label] = float(np.median(times) * 1000)
    correct = no_face = 0
    for path, label in workload["portraits"]:
        found = analyze(cv2.imread(path))
        if not found:
            no_face += 1
            continue
        correct += max(found, key=lambda f: f[0][2] * f[0][3])[1] == label
    result["portraits"] = {
        "photos": len(workload["portraits"]),
        "no_face": no_face,
        "accuracy": correct / len(workload["portraits"]),
    }
    capture = cv2.VideoCapture(workload["video"])
    frames = 0
    start = time.perf_counter()
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        analyze(bgr)
        frames += 1
    result["video_frames_per_s"] = frames / (time.perf_counter() - start)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
