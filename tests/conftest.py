import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SHARED = Path(os.environ.get("MOODLENS_SHARED", Path(__file__).resolve().parents[2] / "shared" / "data"))
FER_TRAIN = SHARED / "fer2013" / "train"
FER_VAL = SHARED / "fer2013" / "val"
FERPLUS_VALID = SHARED / "ferplus" / "FER2013Valid"
MUXSPACE = SHARED / "muxspace"

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Every test session decodes into its own cache, so no test leans on an earlier run."""
    os.environ["MOODLENS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


def run_cli(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m moodlens ARGS` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "moodlens", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


TINY_TRAIN = [
    "--classes",
    "happy,surprise,neutral",
    "--per-class",
    "150",
    "--model",
    "resnet",
    "--width",
    "8",
    "--batch-size",
    "64",
    "--augment",
    "0.5",
]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 3-class model trained for 2 epochs on 450 real faces: enough to exercise eval and reports."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = run_cli("train", FER_TRAIN, "--val", FER_VAL, *TINY_TRAIN, "--epochs", "2", "--out", out)
    assert result.returncode == 0, result.stderr
    return out
