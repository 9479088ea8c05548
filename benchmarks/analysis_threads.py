"""How ONNX Runtime's idle worker threads change `Analyzer.analyze` time on the workloads of
benchmarks/analysis_profile.py: the reason `runtime.classifier.session_options` spins within a run only.

    python benchmarks/analysis_threads.py --threads 2 --out benchmarks/results/analysis_threads.json

Policies of the detector's and the classifier's sessions:
- `sleep`: workers never spin (`session.intra_op.allow_spinning` 0), so they sleep between operators;
- `spin`: ONNX Runtime's default: workers spin between operators and go on spinning after a run returns;
- `detector_spins_classifier_sleeps`: what moodlens did up to session 20;
- `spin_within_run`: they spin between operators and stop when the run returns (`session.force_spinning_stop`).
Rounds alternate the policies so that a machine whose speed drifts treats them alike; each figure is the
best over rounds of the median of --repeats analyses.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import onnxruntime as ort
from analysis_profile import workloads
from timing import command, machine, median_ms

from moodlens import Analyzer
from moodlens.runtime.weights import detector_file

SLEEP = {"session.intra_op.allow_spinning": "0"}
SPIN = {"session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "0"}
SPIN_WITHIN_RUN = {"session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "1"}
# each policy's (detector, classifier) session entries
POLICIES = {
    "sleep": (SLEEP, SLEEP),
    "spin": (SPIN, SPIN),
    "detector_spins_classifier_sleeps": (SPIN, SLEEP),  # moodlens up to session 19
    "spin_within_run": (SPIN_WITHIN_RUN, SPIN_WITHIN_RUN),
}


def with_policy(path: Path, threads: int, entries: dict[str, str]) -> ort.InferenceSession:
    """A session of the model at `path` whose threads follow `entries`."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    for key, value in entries.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    analyzer = Analyzer(threads=args.threads)
    sessions = {
        name: (
            with_policy(detector_file("centerface"), args.threads, detector_entries),
            with_policy(analyzer.classifier.path, args.threads, classifier_entries),
        )
        for name, (detector_entries, classifier_entries) in POLICIES.items()
    }
    work = workloads(mosaic=False)
    best: dict[str, dict[str, float]] = {name: {} for name in POLICIES}
    for _ in range(args.rounds):
        for policy, (detector, classifier) in sessions.items():
            analyzer.detector.session, analyzer.classifier.session = detector, classifier
            for name, (image, path, still) in work.items():
                ms = median_ms(partial(analyzer.analyze_images, [image], [path], still=still), args.repeats)
                best[policy][name] = min(ms, best[policy].get(name, float("inf")))
    chosen = best["spin_within_run"]
    result = {
        "ms": best,
        "spin_within_run_speedup": {
            policy: {name: round(ms / chosen[name], 2) for name, ms in times.items()}
            for policy, times in best.items()
            if policy != "spin_within_run"
        },
        "machine": machine(args.threads),
        "command": command(
            f"benchmarks/analysis_threads.py --threads {args.threads} --repeats {args.repeats} "
            f"--rounds {args.rounds} --out {args.out}"
        ),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
