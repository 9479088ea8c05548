"""How far a crowd's reported emotion shares are from the truth: counting each face's top emotion (as before
issue 28) against the corrected shares moodlens reports (runtime.crowd), with their intervals' coverage.

    python benchmarks/crowd_mood.py --model default --folds runs/default-photos-r8l/onnx --out R.json
    python benchmarks/crowd_mood.py --model ferplus --out R.json

Photo crowds: every muxspace photo's largest face is read once (detection, crop, the ONNX model with flip,
the shipped temperature); crowds of known shares are drawn from them: shares from a flat Dirichlet over the
six emotions with enough photos, photos drawn for each (with repeats only where an emotion has fewer photos
than the crowd asks). The confusion the correction needs is measured on photos the crowd does not hold and
the model never trained on: the photos are split in two halves, each half's crowds corrected with the other
half's confusion. As shipped, the calibration also holds a second kind of faces, FER+ validation faces read
by the model, and each crowd is corrected as the kind its answers are most likely under (`kinds_chosen`).
A model that trained on the photos (`default`) reads each photo with the fold model that never saw it
(`--folds`: recipes/default_photos.sh's runs exported to ONNX).

With `--quapy`, the same crowds are also estimated by QuaPy's PACC and EMQ (SLD), fitted on the same
labelled half: a maintained library's answer to the same question, on the same inputs.

Grid crowds (`--grids`): 100 FER+ validation faces (never trained on) laid out in a 10 x 10 grid photo
and analysed whole by `Analyzer`, exactly as `moodlens analyze` would; the truth is the 100 faces' majority
votes. The FER+ faces are split in two halves too: a grid's faces come from one, and the calibration it is
corrected with is the shipped one with its FER+ kind measured on the other half; `--splits` such halvings.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import time
from pathlib import Path

import cv2
import numpy as np
from paths import SHARED

from moodlens.data.faces import load_dataset
from moodlens.evaluation.calibrate import Answers, held_out_answers
from moodlens.runtime.calibration import FIRST_KIND, Calibration, FaceKind, tempered
from moodlens.runtime.crowd import CrowdSummary, crowd_summary, summarize, wilson_interval
from moodlens.runtime.hardware import cpu_field, cpu_flags
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.quantify import Confusion
from moodlens.runtime.weights import resolve_onnx
from moodlens.training.data import class_index

EMOTIONS = ["angry", "disgust", "happy", "sad", "surprise", "neutral"]  # those with 80 photos or more
FOLDS = Path.home() / ".cache" / "moodlens" / "muxspace-folds"  # recipes/muxspace_folds.py's default
CELL, FACE = 96, 64  # a grid cell and the face in it, in pixels
LAB_KIND = "ferplus_valid"  # the kind recipes/calibrate_shipped.py measures on FER+ validation faces


def photo_answers(model: str, folds: Path | None) -> Answers:
    """Each photo's largest face, read raw (the temperature is applied by the caller)."""
    if folds is None:
        return held_out_answers(resolve_onnx(model), SHARED / "muxspace", "centerface")
    parts = [held_out_answers(folds / f"fold{k}.onnx", FOLDS / f"fold{k}" / "val", "centerface") for k in range(4)]
    return functools.reduce(operator.add, parts)


def draw_crowd(rng: np.random.Generator, pool: dict[int, np.ndarray], size: int) -> np.ndarray:
    """Indices of a crowd: shares from a flat Dirichlet, faces of each emotion drawn without repeats where
    there are enough."""
    counts = rng.multinomial(size, rng.dirichlet(np.ones(len(pool))))
    picked = [rng.choice(faces, n, replace=n > len(faces)) for faces, n in zip(pool.values(), counts, strict=True)]
    return np.concatenate(picked)


class Scores:
    """Errors and interval hits of counting and of the reported (corrected) shares."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.errors: dict[str, list] = {"count": [], "corrected": []}
        self.covered: dict[str, list] = {"count": [], "corrected": []}
        self.widths: list[np.ndarray] = []
        self.kinds: dict[str, int] = {}  # how many crowds were corrected as each kind of faces

    def add(self, true: np.ndarray, counts: np.ndarray, summary: CrowdSummary, others: dict | None = None) -> None:
        """A crowd's true shares, its top-emotion counts, the summary moodlens reports and other methods'
        estimates (shares alone)."""
        for method, estimate in (others or {}).items():
            self.errors.setdefault(method, []).append(estimate - true)
        n = counts.sum()
        wilson = np.array([wilson_interval(c / n, n) for c in counts])
        shares = [summary.shares[label] for label in self.labels]
        reported = np.array([[s.share, s.low, s.high] for s in shares])
        for method, (estimate, low, high) in {
            "count": (counts / n, wilson[:, 0], wilson[:, 1]),
            "corrected": reported.T,
        }.items():
            self.errors[method].append(estimate - true)
            self.covered[method].append((low - 1e-9 <= true) & (true <= high + 1e-9))
        self.widths.append(reported[:, 2] - reported[:, 1])
        self.kinds[summary.kind] = self.kinds.get(summary.kind, 0) + 1

    def report(self) -> dict:
        drawn = [self.labels.index(e) for e in EMOTIONS]
        out = {}
        for method in self.errors:
            errors = np.array(self.errors[method])
            out[method] = {
                "mean_abs_error_points": round(100 * float(np.abs(errors).mean()), 2),
                # how far that mean might be from the same method's on other crowds (standard error)
                "mean_abs_error_se_points": round(
                    100 * float(np.abs(errors).mean(axis=1).std(ddof=1) / np.sqrt(len(errors))), 2
                ),
                "worst_error_points": round(100 * float(np.abs(errors).max()), 1),
                "bias_points": {
                    label: round(100 * float(errors[:, k].mean()), 2) for k, label in enumerate(self.labels)
                },
                "max_abs_bias_points": round(100 * float(np.abs(errors.mean(axis=0)).max()), 2),
            }
            if method in self.covered:
                covered = np.array(self.covered[method])
                out[method]["coverage"] = round(float(covered.mean()), 3)
                out[method]["coverage_of_emotions_drawn"] = round(float(covered[:, drawn].mean()), 3)
        out["corrected"]["mean_interval_width_points"] = round(100 * float(np.mean(self.widths)), 1)
        out["corrected"]["kinds_chosen"] = self.kinds
        return out


def quapy_methods(probs: np.ndarray, truth: np.ndarray) -> dict:
    """QuaPy's PACC and EMQ fitted on these labelled faces' probabilities (quapy is imported only here)."""
    from quapy.method.aggregative import EMQ, PACC
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Given(ClassifierMixin, BaseEstimator):
        """The model's probabilities, already computed: QuaPy asks for a fitted classifier."""

        def __init__(self, classes: int = probs.shape[1]):
            self.classes = classes
            self.classes_ = np.arange(classes)

        def fit(self, x, y):
            return self

        def predict_proba(self, x):
            return x

    methods = {
        "quapy_pacc": PACC(Given(), fit_classifier=False, val_split=None),
        "quapy_emq": EMQ(Given(), fit_classifier=False, val_split=None, exact_train_prev=False),
    }
    for method in methods.values():
        method.aggregation_fit(probs, truth)
    return methods


def stratified_half(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random half of the faces, each emotion split evenly (a boolean mask)."""
    half = np.zeros(len(classes), bool)
    for c in np.unique(classes):
        members = rng.permutation(np.flatnonzero(classes == c))
        half[members[: len(members) // 2]] = True
    return half


def kind(name: str, labels: list[str], probs: np.ndarray, truth: np.ndarray) -> FaceKind:
    """A kind of faces measured on these calibrated probabilities (N, K) and true classes (N,)."""
    return FaceKind(name, name, Confusion.measure(labels, probs, truth))


def photo_crowds(
    answers: Answers, lab: Answers, temperature: float, crowds: int, size: int, seed: int, quapy: bool
) -> dict:
    labels, probs, classes = answers.labels, tempered(answers.probs, temperature), answers.truth
    lab_kind = kind(LAB_KIND, labels, tempered(lab.probs, temperature), lab.truth)
    rng = np.random.default_rng(seed)
    halves = stratified_half(classes, rng)
    scores, seconds = Scores(labels), []
    for half in (halves, ~halves):
        calibration = Calibration(temperature, [kind(FIRST_KIND, labels, probs[~half], classes[~half]), lab_kind])
        pool = {labels.index(e): np.flatnonzero(half & (classes == labels.index(e))) for e in EMOTIONS}
        others = quapy_methods(probs[~half], classes[~half]) if quapy else {}
        for _ in range(crowds // 2):
            crowd = draw_crowd(rng, pool, size)
            counts = np.bincount(probs[crowd].argmax(1), minlength=len(labels))
            start = time.perf_counter()
            sums = dict(zip(labels, probs[crowd].sum(axis=0), strict=True))
            evidence = calibration.log_evidence(probs[crowd])
            tally = dict(zip(labels, counts, strict=True))
            summary = summarize(labels, size, size, tally, sums, calibration, evidence=evidence)
            seconds.append(time.perf_counter() - start)
            estimates = {name: method.aggregate(probs[crowd]) for name, method in others.items()}
            scores.add(np.bincount(classes[crowd], minlength=len(labels)) / size, counts, summary, estimates)
    return {**scores.report(), "ms_per_summary": round(1000 * float(np.median(seconds)), 1)}


def grid_crowds(model: str, lab: Answers, crowds: int, splits: int, seed: int) -> dict:
    """Crowds of 100 FER+ validation faces in one grid photo each, analysed as `moodlens analyze` would, each
    corrected with the shipped photos' kind and a FER+ kind measured on the other half of the faces. The
    faces are halved `splits` times over (FER+ validation has 32 disgust faces: which 16 measure the kind
    moves the result more than the crowds drawn do), the grids shared evenly between splits and halves."""
    analyzer = Analyzer(model, threads=2)
    faces = load_dataset(SHARED / "ferplus" / "FER2013Valid", 48, 1)
    labels, temperature = analyzer.labels, analyzer.calibration.temperature
    truth = class_index(faces, labels)
    known = np.flatnonzero(truth >= 0)  # the faces `lab` read, in its order
    rng, scores, found, per_split = np.random.default_rng(seed), Scores(labels), [], []
    for _ in range(splits):
        halves, before = stratified_half(lab.truth, rng), len(scores.errors["corrected"])
        for half in (halves, ~halves):
            other = kind(LAB_KIND, labels, tempered(lab.probs[~half], temperature), lab.truth[~half])
            calibration = Calibration(temperature, [analyzer.calibration.kinds[0], other])
            pool = {labels.index(e): known[half & (lab.truth == labels.index(e))] for e in EMOTIONS}
            for _ in range(crowds // (2 * splits)):
                crowd = rng.permutation(draw_crowd(rng, pool, 100))
                result = analyzer.analyze(grid_photo(faces.images[crowd]))
                readable = [face for face in result.faces if face.readable]
                counts = np.array([sum(face.emotion == label for face in readable) for label in labels])
                summary = crowd_summary(result.faces, labels, calibration)
                scores.add(np.bincount(truth[crowd], minlength=len(labels)) / 100, counts, summary)
                found.append(len(readable))
        errors = np.abs(np.array(scores.errors["corrected"][before:]))
        per_split.append(round(100 * float(errors.mean()), 2))
    report = scores.report()
    report["corrected"]["error_points_per_split"] = per_split
    return {**report, "mean_faces_read_of_100": round(float(np.mean(found)), 1)}


def grid_photo(faces: np.ndarray) -> np.ndarray:
    """100 grey 48 x 48 faces enlarged to FACE pixels, each in a CELL of mid grey, 10 to a row (RGB)."""
    pad = (CELL - FACE) // 2
    grid = np.full((10 * CELL, 10 * CELL), 128, np.uint8)
    for k, face in enumerate(faces):
        top, left = (k // 10) * CELL + pad, (k % 10) * CELL + pad
        grid[top : top + FACE, left : left + FACE] = cv2.resize(
            face[..., 0], (FACE, FACE), interpolation=cv2.INTER_CUBIC
        )
    return np.stack([grid] * 3, axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="shipped model or .onnx file with its calibration")
    parser.add_argument("--folds", type=Path, help="folder with fold0.onnx ... fold3.onnx: photos read out of fold")
    parser.add_argument("--crowds", type=int, default=200)
    parser.add_argument("--sizes", default="100,30,10,3", help="crowd sizes, comma-separated")
    parser.add_argument("--grids", type=int, default=0, help="this many grid photos of FER+ faces too")
    parser.add_argument("--splits", type=int, default=5, help="halvings of the FER+ faces the grids are shared by")
    parser.add_argument("--quapy", action="store_true", help="QuaPy's PACC and EMQ on the same photo crowds too")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    answers, calibration = photo_answers(args.model, args.folds), Analyzer(args.model).calibration
    lab = held_out_answers(resolve_onnx(args.model), SHARED / "ferplus" / "FER2013Valid")
    result = {
        "model": args.model if args.folds is None else f"{args.model}, out of fold ({args.folds})",
        "temperature": calibration.temperature,
        "photos": len(answers.truth),
        "photo_accuracy": round(float((answers.probs.argmax(1) == answers.truth).mean()), 4),
        "crowds_per_size": args.crowds,
        "emotions_drawn": EMOTIONS,
        "photo_crowds": {
            size: photo_crowds(answers, lab, calibration.temperature, args.crowds, int(size), args.seed, args.quapy)
            for size in args.sizes.split(",")
        },
    }
    if args.grids:
        grids = grid_crowds(args.model, lab, args.grids, args.splits, args.seed)
        result["grid_crowds"] = {"grids": args.grids, "splits": args.splits, **grids}
    result["machine"] = {"cpu": cpu_field("model name"), "avx512f": "avx512f" in cpu_flags(), "cores_used": 2}
    result["command"] = "python benchmarks/crowd_mood.py " + " ".join(
        f"--{key}" if value is True else f"--{key} {value}"
        for key, value in vars(args).items()
        if value not in (None, False)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {
        size: {m: r[m]["mean_abs_error_points"] for m in r if "quapy" in m or m in ("count", "corrected")}
        for size, r in result["photo_crowds"].items()
    }
    print(json.dumps({"photo_crowds": summary, "grid_crowds": result.get("grid_crowds")}, indent=1))


if __name__ == "__main__":
    main()
