"""How the answer densities that tell a crowd's kind of faces are set (issue 28): runtime.quantify's
SHRINK_FACES and RIDGE.

    python benchmarks/kind_density.py --folds runs/default-photos-r8u/onnx --out benchmarks/results/kind_density.json

Answers with the shipped temperature: the muxspace photos out of fold (as benchmarks/crowd_mood.py reads
them) and the FER+ validation faces read one by one. Each set is halved (each emotion evenly); each kind's
density is measured on one half, and crowds of 10 and 30 faces (shares from a flat Dirichlet over the six
emotions with 80 photos or more) are drawn from the other half of each set. Reported for each setting: how
often a crowd's answers are likelier under its own kind than under the other (at even odds), per set.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
from crowd_mood import EMOTIONS, draw_crowd, photo_answers, stratified_half
from paths import SHARED

from moodlens.evaluation.calibrate import held_out_answers
from moodlens.runtime.calibration import tempered
from moodlens.runtime.hardware import cpu_field
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.quantify import RIDGE, SHRINK_FACES, Confusion, answer_density
from moodlens.runtime.weights import resolve_onnx

SHRINKS = (1.0, 5.0, 20.0, 80.0)
RIDGES = (0.001, 0.01, 0.1, 0.5)
SIZES = (10, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--folds", type=Path, help="folder with fold0.onnx ... fold3.onnx: photos read out of fold")
    parser.add_argument("--crowds", type=int, default=200, help="crowds per set, size and setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    temperature = Analyzer(args.model, threads=1).calibration.temperature
    photos = photo_answers(args.model, args.folds)
    lab = held_out_answers(resolve_onnx(args.model), SHARED / "ferplus" / "FER2013Valid")
    labels, rng = photos.labels, np.random.default_rng(args.seed)
    sets = {name: (tempered(a.probs, temperature), a.truth) for name, a in (("photos", photos), ("ferplus", lab))}
    halves = {name: stratified_half(truth, rng) for name, (_, truth) in sets.items()}
    told: dict[str, dict] = {}
    for shrink, ridge in itertools.product(SHRINKS, RIDGES):
        hits = {f"{name} {size}": [] for name in sets for size in SIZES}
        for side in (True, False):
            kinds = {}
            for name, (probs, truth) in sets.items():
                measured = halves[name] != side
                confusion = Confusion.measure(labels, probs[measured], truth[measured])
                density = answer_density(probs[measured], truth[measured], len(labels), shrink, ridge)
                kinds[name] = dataclasses.replace(confusion, log_mean=density[0], log_covariance=density[1])
            for name, (probs, truth) in sets.items():
                crowd_half = halves[name] == side
                pool = {labels.index(e): np.flatnonzero(crowd_half & (truth == labels.index(e))) for e in EMOTIONS}
                evidence = {kind: c.log_evidence(probs) for kind, c in kinds.items()}
                other = next(kind for kind in kinds if kind != name)
                for size, _ in itertools.product(SIZES, range(args.crowds // 2)):
                    crowd = draw_crowd(rng, pool, size)
                    hits[f"{name} {size}"].append(evidence[name][crowd].sum() > evidence[other][crowd].sum())
        told[f"shrink {shrink:g}, ridge {ridge:g}"] = {key: round(float(np.mean(v)), 3) for key, v in hits.items()}
    result = {
        "model": args.model + (f", out of fold ({args.folds})" if args.folds else ""),
        "shipped": f"shrink {SHRINK_FACES:g}, ridge {RIDGE:g}",
        "crowds_told_apart": told,
        "machine": {"cpu": cpu_field("model name")},
        "command": "python benchmarks/kind_density.py"
        + (f" --folds {args.folds}" if args.folds else "")
        + f" --out {args.out}",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(told, indent=1))


if __name__ == "__main__":
    main()
