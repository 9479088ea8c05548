"""The package as users get it: a wheel installed with the core dependencies alone, and the import layers."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import COUPLE, SHARED

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("torch", "optuna", "onnx", "fastapi", "uvicorn", "av", "ray", "pandas", "sqlalchemy", "pyarrow", "psycopg")


def run(*command, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A command in an environment without PYTHONPATH: the fresh venv sees the wheel, not this checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=900, env=env, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what it is made of, so that no build/ of an earlier run slips in."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # no build isolation: the build backend of this venv (setuptools) builds it, nothing is fetched
    built = run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, source, cwd=out)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = out.glob("moodlens-*.whl")
    return wheel


def test_the_wheel_holds_the_models_the_page_and_the_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("default", "balanced", "ferplus", "fer2013"):
        assert {f"moodlens/weights/{model}.onnx", f"moodlens/weights/{model}.pt"} <= names
    assert "moodlens/weights/detectors/centerface.onnx" in names
    shipped = sorted(p.name for p in (ROOT / "src" / "moodlens" / "weights").glob("*.calibration.json"))
    assert "default.calibration.json" in shipped and {f"moodlens/weights/{n}" for n in shipped} <= names
    assert {"moodlens/server/static/index.html", "moodlens/server/static/app.js"} <= names
    licences = {Path(name).name for name in names if "/licenses/" in name}
    assert {"LICENSE", "LICENSE.centerface"} <= licences
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requirements = [line.split(":", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = {re.split(r"[<>=!~\[; ]", req.strip())[0].lower() for req in requirements if "extra ==" not in req}
    assert core == {"numpy", "pillow", "opencv-python-headless", "onnxruntime", "matplotlib", "tqdm"}
    assert "Requires-Python: >=3.11" in metadata and "License-Expression: Apache-2.0" in metadata


def test_a_fresh_venv_with_the_core_alone_analyses_photos_without_torch(wheel, tmp_path):
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    python, moodlens = venv / "bin" / "python", venv / "bin" / "moodlens"
    # the pip cache makes this quick after the first time; a CI machine reaches PyPI for the core wheels
    installed = run(python, "-m", "pip", "install", "--quiet", wheel)
    assert installed.returncode == 0, installed.stderr[-2000:]
    listed = run(python, "-m", "pip", "list", "--format", "json")
    packages = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not packages & set(OPTIONAL), packages & set(OPTIONAL)

    out = tmp_path / "faces.json"
    analyzed = run(moodlens, "analyze", COUPLE, "--json", out, cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    record = json.loads(out.read_text())[0]
    assert len(record["faces"]) == 2 and all(face["emotion"] for face in record["faces"])
    assert record["summary"]["method"] == "corrected"  # the calibration came with the wheel

    script = (
        "import sys, moodlens; r = moodlens.Analyzer().analyze(sys.argv[1]); "
        "print(len(r.faces), moodlens.__file__, 'torch' in sys.modules)"
    )
    api = run(python, "-c", script, COUPLE, cwd=tmp_path)
    count, location, torch_imported = api.stdout.split()
    assert (count, torch_imported) == ("2", "False") and str(venv) in location

    training = run(moodlens, "train", SHARED / "fer2013" / "train", cwd=tmp_path)
    lines = training.stderr.strip().splitlines()
    assert training.returncode == 2 and len(lines) == 1, training.stderr
    assert "pip install 'moodlens[train]'" in lines[0]


def test_the_runtime_and_analysis_import_no_torch():
    modules = [
        f"moodlens.{package}.{path.stem}"
        for package in ("runtime", "analysis", "data", "server", "recording")
        for path in sorted((ROOT / "src" / "moodlens" / package).glob("*.py"))
        if path.stem != "__init__"
    ]
    script = f"import sys, moodlens.cli, moodlens.training.config; {'; '.join(f'import {m}' for m in modules)}; "
    script += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'optuna', 'onnx')))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
