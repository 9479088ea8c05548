"""Export every shipped model's ONNX file again from its shipped weights, after a change to `moodlens export`
(session 19: int8 with 7-bit weights, which CPUs without VNNI multiply without saturating).

    python recipes/requantize_shipped.py [NAME ...]

Each model is checked and calibrated on the splits `benchmarks/accuracy.py` scores it on. The calibration
beside each file (recipes/calibrate_shipped.py) is kept: re-fit it where its photos can be read again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from accuracy import CALIBRATION, SPLITS  # noqa: E402
from paths import SHARED  # noqa: E402
from ship_model import ship_onnx  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(SPLITS), help="shipped models (default: all)")
    args = parser.parse_args()
    for name in args.names:
        ship_onnx(name, str(SHARED / SPLITS[name]), str(SHARED / CALIBRATION))


if __name__ == "__main__":
    main()
