"""What a recorder watches: a webcam, a video file, a network stream, or a region of the screen.

Each source yields (unix time to the millisecond, RGB frame) at most `fps` times a second. Live sources
(webcams, streams, the screen) are timed by the clock, each frame by when it arrived; a camera or stream
is read by a thread of its own that keeps only the newest frame, so a recorder slower than the stream
never works through a backlog of old frames (or stamps them with a later time). A video file is timed by
its own timeline from `origin`, so that recording a file twice gives the same times.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np

from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.video import frame_step, quietly_opened

SCREEN = re.compile(r"^screen(?::(\d+),(\d+),(\d+),(\d+))?$")


class SourceError(MoodlensError):
    """The source cannot be opened; the message says why in one line."""


class SourceLost(OSError):
    """A live source stopped giving frames (a camera unplugged, a stream dropped)."""


def is_live(spec: str) -> bool:
    """A webcam (a number), a network stream (a URL) or the screen: anything but a video file."""
    return spec.isdigit() or "://" in spec or bool(SCREEN.match(spec))


def frames(spec: str, fps: float, origin: float) -> Iterator[tuple[float, np.ndarray]]:
    """The frames of the source `spec` to record: webcam N, a file, a URL, 'screen' or 'screen:L,T,W,H'."""
    if match := SCREEN.match(spec):
        return screen_frames(tuple(int(v) for v in match.groups()) if match.group(1) else None, fps)
    if spec.startswith("screen"):
        raise SourceError(f"{spec}: a screen region is screen:LEFT,TOP,WIDTH,HEIGHT in whole pixels")
    return capture_frames(spec, fps, origin)


def capture_frames(spec: str, fps: float, origin: float) -> Iterator[tuple[float, np.ndarray]]:
    """Frames through OpenCV (FFmpeg for files and streams); only the frames kept are decoded."""
    capture = quietly_opened(int(spec) if spec.isdigit() else spec)
    if not capture.isOpened():
        raise SourceError(f"{spec}: cannot open it as a camera, video file or stream")
    if is_live(spec):
        return newest_frames(NewestFrame(capture, spec), fps)
    return file_frames(capture, spec, fps, origin)


def newest_frames(reader: NewestFrame, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """At most `fps` frames a second from a camera or stream, each the first to arrive after it was asked
    for, stamped with its arrival."""
    try:
        while True:
            arrived, bgr = reader.next()
            yield arrived, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            time.sleep(max(0.0, arrived + 1 / fps - time.time()))
    finally:
        reader.stop()


class NewestFrame:
    """Reads a camera or stream as fast as it sends, in a thread of its own that owns the capture; decodes
    only the frame asked for (the next to arrive), and stops and releases the capture when told to."""

    def __init__(self, capture: cv2.VideoCapture, spec: str):
        self.capture, self.spec = capture, spec
        self.ready = threading.Condition()
        self.wanted, self.frame, self.lost, self.stopped = False, None, False, False
        self.thread = threading.Thread(target=self.read, name=f"moodlens reader {spec}", daemon=True)
        self.thread.start()

    def read(self) -> None:
        try:
            while not self.stopped and self.capture.grab():
                arrived = round(time.time(), 3)
                with self.ready:
                    if self.wanted:
                        decoded, bgr = self.capture.retrieve()
                        if decoded:
                            self.frame, self.wanted = (arrived, bgr), False
                            self.ready.notify_all()
        finally:  # the stream ended or failed, or we were told to stop: no frame comes any more
            with self.ready:
                self.lost = True
                self.ready.notify_all()
            self.capture.release()

    def next(self) -> tuple[float, np.ndarray]:
        with self.ready:
            self.wanted, self.frame = True, None
            self.ready.wait_for(lambda: self.frame is not None or self.lost)
            if self.frame is None:
                raise SourceLost(f"{self.spec}: the stream stopped")
            return self.frame

    def stop(self, wait: float = 10.0) -> None:
        """End the thread after the frame it is reading (it releases the capture), and wait for it: a process
        that exits while FFmpeg still reads in another thread is aborted."""
        self.stopped = True
        self.thread.join(wait)


def file_frames(capture: cv2.VideoCapture, spec: str, fps: float, origin: float) -> Iterator[tuple[float, np.ndarray]]:
    """Every step-th frame of a video file, timed from `origin` by the file's own frame rate."""
    native = capture.get(cv2.CAP_PROP_FPS)
    native = native if native and native > 0 else 30.0
    step = frame_step(native, fps=fps)
    index = 0
    try:
        while True:
            if not capture.grab():
                check_whole(spec, index, capture.get(cv2.CAP_PROP_FRAME_COUNT))
                return
            index += 1
            if (index - 1) % step:
                continue
            ok, bgr = capture.retrieve()
            if ok:
                yield round(origin + (index - 1) / native, 3), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def check_whole(spec: str, frames_read: int, frames_said: float) -> None:
    """A video file that ends well before the frame count its container gives is damaged: say so (what was
    recorded from it is kept). Containers' counts are estimates, so a few frames short is normal."""
    if frames_said > 0 and frames_read < 0.95 * frames_said:
        raise SourceError(f"{spec}: it ends at frame {frames_read} of {frames_said:.0f}; the file may be damaged")


def screen_frames(region: tuple[int, int, int, int] | None, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """Screenshots of a region (left, top, width, height) or of the whole first screen, with mss."""
    import mss  # the [record] extra

    try:
        grabber = mss.mss()
    except mss.exception.ScreenShotError as e:
        raise SourceError(f"screen: cannot capture it ({e})") from e
    with grabber:
        area = grabber.monitors[1]
        if region:
            area = dict(zip(("left", "top", "width", "height"), region, strict=True))
            check_region(area, grabber.monitors[0])
        while True:
            started = time.time()
            try:
                shot = np.asarray(grabber.grab(area))
            except mss.exception.ScreenShotError as e:
                raise SourceLost(f"screen: capture failed ({e})") from e
            yield round(started, 3), cv2.cvtColor(shot, cv2.COLOR_BGRA2RGB)
            time.sleep(max(0.0, started + 1 / fps - time.time()))


def check_region(area: dict, screen: dict) -> None:
    """A region must have a size and lie on the screen (all monitors together)."""
    right, bottom = screen["left"] + screen["width"], screen["top"] + screen["height"]
    inside = area["left"] >= screen["left"] and area["top"] >= screen["top"]
    inside = inside and area["left"] + area["width"] <= right and area["top"] + area["height"] <= bottom
    if area["width"] < 1 or area["height"] < 1 or not inside:
        where = f"{screen['width']}x{screen['height']} at {screen['left']},{screen['top']}"
        raise SourceError(f"screen region {tuple(area.values())} is not on the screen ({where})")
