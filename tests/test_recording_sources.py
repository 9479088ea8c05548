"""`moodlens record` from live sources: a network stream that drops and comes back, and the screen under Xvfb."""

import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import sync_playwright

from moodlens.recording.store import Store

from conftest import SELFIE, SHARED, free_port, run_cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class MjpegStream:
    """An HTTP MJPEG stream of a real photo, 5 frames a second (or 1 / `interval`), as IP cameras serve them;
    stop() drops it."""

    def __init__(self, port: int, photo: Path, interval: float = 0.2):
        self.port, self.jpeg = port, cv2.imencode(".jpg", cv2.imread(str(photo)))[1].tobytes()
        self.server, self.interval = None, interval

    def start(self) -> None:
        stream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(stream.jpeg)
                try:
                    while stream.server is self.server:
                        self.wfile.write(part + stream.jpeg + b"\r\n")
                        time.sleep(stream.interval)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        server, self.server = self.server, None  # the handlers see it and end their streams
        server.shutdown()
        server.server_close()


def record_stream(port: int, database: str, session: str, *options: str) -> subprocess.Popen:
    """`moodlens record` of the test stream into `session`, once it has written 3 steps (or 2 minutes passed)."""
    url = f"http://127.0.0.1:{port}/camera.mjpg"
    command = [sys.executable, "-m", "moodlens", "record", url, "--session", session, "--db", database, *options]
    recorder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(step_times(database, session)) < 3 and time.time() < deadline:
        time.sleep(0.2)
    return recorder


def step_times(database: str, name: str) -> list[float]:
    store = Store(database)
    session = store.find(name)
    return [step.time for _, step in store.read_steps(session)] if session else []


@pytest.mark.slow
def test_a_stream_that_drops_and_comes_back_is_recorded_on_both_sides_of_the_gap(tmp_path):
    port, database = free_port(), f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    stream = MjpegStream(port, SELFIE)
    stream.start()
    recorder = record_stream(port, database, "gig", "--fps", "2", "--duration", "14", "--reconnect", "30")
    stream.stop()
    dropped = time.time()
    time.sleep(3)
    stream.start()
    back = time.time()
    out, err = recorder.communicate(timeout=180)
    stream.stop()
    assert recorder.returncode == 0, err
    assert "reconnecting" in err and "steps recorded" in out
    times = step_times(database, "gig")
    assert len([t for t in times if t < dropped]) >= 3
    assert len([t for t in times if t > back]) >= 3  # recording went on after the stream came back
    assert not [t for t in times if dropped + 0.5 < t < back]  # nothing was made up while it was gone


@pytest.mark.slow
def test_a_stream_faster_than_analysis_is_stamped_when_it_arrived_with_no_backlog(tmp_path):
    """A recorder asked for more frames than it can analyse reads the newest frame each time: when the stream
    stops, no step is stamped after it (read-time stamps of a backlog went on for seconds) and it stops."""
    port, database = free_port(), f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    stream = MjpegStream(port, SHARED / "faces" / "dlib" / "bald_guys.jpg", interval=0.02)  # a crowd, 50 frames/s
    stream.start()
    recorder = record_stream(port, database, "rush", "--fps", "25", "--reconnect", "0")
    time.sleep(4)
    stream.stop()
    stopped = time.time()
    _, err = recorder.communicate(timeout=120)
    gave_up = time.time() - stopped
    times = step_times(database, "rush")
    assert len(times) >= 5, err
    assert max(times) <= stopped + 0.5, f"a step {max(times) - stopped:.1f} s after the stream stopped"
    assert gave_up < 15 and "the stream stopped" in err


def test_a_gone_stream_stops_the_recorder_in_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/camera.mjpg"
    result = run_cli("record", url, "--session", "none", "--db", f"sqlite:///{tmp_path / 's.sqlite'}")
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"moodlens: error: {url}: cannot open it as a camera, video file or stream"
    )


@pytest.fixture()
def display(tmp_path):
    """A virtual X screen (Xvfb, 1280x800) showing a real group photo in a Chromium window."""
    assert shutil.which("Xvfb"), "Debian's xvfb package is needed: `make test` installs it"
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
    deadline = time.time() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.time() < deadline:
        time.sleep(0.1)
    with sync_playwright() as playwright:
        env = {**os.environ, "DISPLAY": f":{number}"}
        window = playwright.chromium.launch(executable_path=CHROMIUM, headless=False, env=env, args=["--kiosk"])
        page = window.new_page(viewport={"width": 1280, "height": 800})
        page.goto(SELFIE.as_uri())
        page.wait_for_load_state("load")
        time.sleep(1)  # the window is painted
        yield f":{number}"
        window.close()
    server.terminate()
    server.wait(timeout=10)


def record_screen(display: str, source: str, session: str, seconds: str, database: str):
    return run_cli(
        "record", source, "--session", session, "--duration", seconds, "--db", database, env={"DISPLAY": display}
    )


@pytest.mark.slow
def test_the_screen_is_recorded_under_xvfb(display, tmp_path):
    database = f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    result = record_screen(display, "screen", "call", "3", database)
    assert result.returncode == 0, result.stderr
    store = Store(database)
    steps = [step for _, step in store.read_steps(store.get("call"))]
    assert len(steps) >= 4 and all(step.faces >= 6 for step in steps), [s.faces for s in steps]  # 2 frames a second
    region = record_screen(display, "screen:0,0,640,400", "corner", "1", database)
    assert region.returncode == 0, region.stderr
    assert store.get("corner").settings["source"] == "screen:0,0,640,400"
    off_screen = record_screen(display, "screen:1000,700,640,400", "off", "1", database)  # past 1280x800
    assert off_screen.returncode == 2 and off_screen.stderr.strip().splitlines() == [
        "moodlens: error: screen region (1000, 700, 640, 400) is not on the screen (1280x800 at 0,0)"
    ]
    assert store.find("off") is None


def test_ctrl_c_stops_a_live_recording_and_keeps_its_steps(tmp_path):
    port, database = free_port(), f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    stream = MjpegStream(port, SELFIE)
    stream.start()
    command = ["record", f"http://127.0.0.1:{port}/camera.mjpg", "--session", "talk", "--db", database]
    recorder = subprocess.Popen(  # -X faulthandler: SIGABRT makes a stuck recorder say where it is
        [sys.executable, "-X", "faulthandler", "-m", "moodlens", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while len(step_times(database, "talk")) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(step_times(database, "talk")) >= 2, "the recorder wrote fewer than 2 steps in 120 s"
    recorder.send_signal(signal.SIGINT)
    try:
        out, err = recorder.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        recorder.send_signal(signal.SIGABRT)
        pytest.fail(f"Ctrl-C left the recorder running for 60 s; its threads:\n{recorder.communicate()[1]}")
    stream.stop()
    assert recorder.returncode == 130 and err.strip() == "moodlens: interrupted", err
    written = len(step_times(database, "talk"))
    assert written >= 2 and out.strip().endswith(f"{written} steps recorded")
