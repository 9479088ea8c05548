import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import torch

from moodlens.runtime.hardware import bf16_native

SHARED = Path(os.environ.get("MOODLENS_SHARED", Path(__file__).resolve().parents[2] / "shared" / "data"))
FER_TRAIN = SHARED / "fer2013" / "train"
FER_VAL = SHARED / "fer2013" / "val"
FERPLUS_VALID = SHARED / "ferplus" / "FER2013Valid"
MUXSPACE = SHARED / "muxspace"
SELFIE = SHARED / "faces" / "deepface" / "selfie-many-people.jpg"  # 7 faces: six people and one cut by the edge
COUPLE = SHARED / "faces" / "deepface" / "couple.jpg"

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

# Training precisions a test runs in: bf16 only where the CPU computes it natively; emulated (AVX2 alone) it
# trains about ten times slower than fp32 and took a clean CI run past 25 minutes.
NATIVE_BF16 = pytest.mark.skipif(
    not bf16_native(), reason="this CPU has no native bf16 (AMX or AVX-512 BF16); emulated, it trains 10x slower"
)
PRECISIONS = ["fp32", pytest.param("bf16", marks=NATIVE_BF16)]


def pytest_collection_modifyitems(items):
    """Tests that train through `tiny_run` are slow; the tests' own marks say the rest."""
    for item in items:
        if "tiny_run" in item.fixturenames:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Every test session decodes into its own cache, so no test leans on an earlier run,"""
    os.environ["MOODLENS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    # and records sessions (servers' too) into a database of its own, never the user's
    os.environ["MOODLENS_DATABASE"] = f"sqlite:///{tmp_path_factory.mktemp('sessions') / 'sessions.sqlite'}"
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
    """A 3-class model trained for 2 epochs on 450 real faces: enough to exercise eval and reports.
    fp32 whatever the CPU, so that every machine trains the same model."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    options = [*TINY_TRAIN, "--epochs", "2", "--precision", "fp32"]
    result = run_cli("train", FER_TRAIN, "--val", FER_VAL, *options, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def with_file_size_limit(limit: int):
    """A disk that fills up after `limit` bytes per file: writes past it fail with EFBIG, as on a full disk."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def analyzer():
    """The shipped default model and detector, on one thread."""
    from moodlens import Analyzer

    return Analyzer(threads=1)


@contextmanager
def running_server(*options: str):
    """(process, url) of `moodlens serve OPTIONS` on a free localhost port, stopped afterwards."""
    process, url = start_server(*options)
    try:
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=20)


def start_server(*options: str):
    """`moodlens serve` on a free localhost port; its output goes to a file so it can never block on a pipe."""
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process
    process = subprocess.Popen(
        [sys.executable, "-m", "moodlens", "serve", "--port", str(port), *options], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                process.log = log  # read with server_log(process)
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    log.seek(0)
    raise RuntimeError(log.read().decode())


def server_log(process) -> str:
    process.log.seek(0)
    return process.log.read().decode(errors="replace")


def make_pan_video(path, source=SHARED / "faces" / "deepface" / "selfie-many-people.jpg", frames=40, fps=10.0):
    """A real group photo panning 2 px a frame across a grey canvas, all of it always in view."""
    image = cv2.cvtColor(cv2.imread(str(source)), cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    size = (width + 2 * frames + 40, height + 40)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        canvas = np.full((size[1], size[0], 3), 110, np.uint8)
        canvas[20 : 20 + height, 20 + 2 * i : 20 + 2 * i + width] = image
        writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, or where Debian's packages put it."""
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise RuntimeError(f"no {name}: install Debian's postgresql package (`make test` does)")
    return str(found)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server of its own, on a free localhost port, in a temporary folder; torn down after.
    As root, it runs as the `postgres` user that Debian's package creates (the server refuses root), in a
    folder of /tmp that user can reach (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="moodlens-postgres-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(
        [*as_user, postgres_bin("initdb"), "-D", data, "-U", "moodlens", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, postgres_bin("pg_ctl"), "-D", data, "-o", options, "-l", folder / "log", "-w", "start"],
        check=True,
        capture_output=True,
    )
    yield f"postgresql+psycopg://moodlens@127.0.0.1:{port}"
    subprocess.run([*as_user, postgres_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> str:
    """A fresh, empty database: an SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"
