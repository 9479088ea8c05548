"""Video files and webcams, streamed frame by frame (never all frames in memory), with face tracking."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.files import output_error
from moodlens.runtime.pipeline import Analyzer, in_batches
from moodlens.runtime.results import ImageResult
from moodlens.runtime.tracking import IouTracker

# FFmpeg's own lines about a broken file ("moov atom not found") would go to stderr beside our one-line error;
# FFmpeg reads its level when OpenCV first opens a file with it, so setting it here, before any, is in time
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


class VideoError(MoodlensError):
    pass


@dataclass
class Frame:
    index: int
    time: float  # seconds from the start
    image: np.ndarray  # RGB uint8


def frame_step(native_fps: float, every: int = 1, fps: float | None = None) -> int:
    """Analyse every `step`-th frame: `fps` frames a second if given, else every `every`-th frame."""
    return max(1, round(native_fps / fps)) if fps else max(1, every)


def quietly_opened(source: str | int) -> cv2.VideoCapture:
    """cv2.VideoCapture(source) without OpenCV's log lines: each backend it tries on a broken file logs its own
    failure (one tries it as an image sequence), where the caller reports one line."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(level)


class VideoSource:
    """A video file or webcam (an int), opened at once so that a bad source fails early."""

    def __init__(self, source: str | int, every: int = 1, fps: float | None = None):
        self.source, self.live = source, isinstance(source, int)
        self.name = f"webcam:{source}" if self.live else str(source)
        self.capture = quietly_opened(source)
        if not self.capture.isOpened():
            raise VideoError(f"{'webcam ' if self.live else ''}{source}: cannot open it as a video")
        native = self.capture.get(cv2.CAP_PROP_FPS)
        self.native_fps = native if native and native > 0 else 30.0
        self.frame_count = max(0, int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)))  # 0 when unknown
        self.step = frame_step(self.native_fps, every, fps)

    def frames(self) -> Iterator[Frame]:
        """Decode only the frames that are analysed; skipped frames are grabbed, not decoded."""
        started = time.monotonic()
        index = 0
        try:
            while self.capture.grab():
                if index % self.step == 0:
                    ok, bgr = self.capture.retrieve()
                    if ok:
                        seconds = time.monotonic() - started if self.live else index / self.native_fps
                        yield Frame(index, round(seconds, 3), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                index += 1
        finally:
            self.capture.release()


def analyze_frames(
    analyzer: Analyzer, frames: Iterator[Frame], name: str, batch_size: int = 8
) -> Iterator[tuple[Frame, ImageResult]]:
    """Analyse frames in batches (one ONNX call per batch) and give each face a track id."""
    tracker = IouTracker()
    for batch in in_batches(frames, batch_size):
        results = analyzer.analyze_images([f.image for f in batch], [name] * len(batch), still=False)
        for frame, result in zip(batch, results, strict=True):
            result.frame, result.time = frame.index, frame.time
            tracker.assign(result.faces)
            yield frame, result


class VideoWriter:
    """Annotated frames to an H.264 .mp4 (yuv420p, moov atom first) that browsers play, opened at the first frame."""

    def __init__(self, path: str, fps: float):
        import av  # PyAV, of the [video] extra: asked for here, before any frame is analysed

        self.av, self.path, self.fps = av, path, fps
        self.container = self.stream = None

    def write(self, rgb: np.ndarray) -> None:
        rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]  # 4:2:0 chroma needs even sides
        try:
            if self.container is None:
                self.container = self.av.open(self.path, "w", options={"movflags": "+faststart"})
                self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
                self.stream.width, self.stream.height, self.stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
                self.stream.options = {"preset": "veryfast", "crf": "23"}
            self.container.mux(self.stream.encode(self.av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), "rgb24")))
        except OSError as e:
            raise output_error(self.path, e) from e

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.mux(self.stream.encode())  # what the encoder still holds
            finally:
                self.container.close()
