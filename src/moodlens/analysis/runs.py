"""`moodlens analyze`: photos, folders, videos and webcams to JSON/CSV records, pictures and summaries.

Records are written as they are made, so memory stays flat and Ctrl-C leaves valid files behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from moodlens.analysis.summaries import VideoSummary
from moodlens.analysis.writers import CsvWriter, JsonArrayWriter
from moodlens.argtypes import POSITIVE, POSITIVE_INT, SCORE, number, option
from moodlens.runtime.annotate import annotate
from moodlens.runtime.crowd import CrowdSummary, CrowdTally, crowd_summary, share_columns, share_values
from moodlens.runtime.detection import CROWD_MODES, MAX_SIDE, THRESHOLD
from moodlens.runtime.files import output_error, write_atomic
from moodlens.runtime.imaging import is_image_file
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.results import READABLE_WIDTH, ImageResult, face_columns, face_rows
from moodlens.runtime.video import VIDEO_SUFFIXES, VideoError, VideoSource, VideoWriter, analyze_frames
from moodlens.runtime.weights import DEFAULT_MODEL


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[Path]]:
    """Images and videos named or found (recursively, sorted) in folders; other named files count as images."""
    images, videos = [], []
    for text in inputs:
        path = Path(text)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix.lower() in VIDEO_SUFFIXES:
                videos.append(file)
            elif is_image_file(file) or not path.is_dir():
                images.append(file)
    return images, videos


@dataclass
class AnalyzerOptions:
    """How `moodlens analyze` finds and reads faces: each option's default, bounds and help, from which the
    command makes its options (the defaults are the runtime's own)."""

    model: str = option(DEFAULT_MODEL, "shipped model name or .onnx file")
    detector: str = option("centerface", "face detector: centerface or haar")
    threshold: float = option(THRESHOLD, "detector confidence threshold", type=SCORE)
    detect_size: int = option(
        MAX_SIDE, "longer side (px) the detector sees; raise for small faces", type=number(int, 32)
    )
    crowd: str = option(
        "auto",
        "second detection pass at full resolution for small faces: when the first pass finds some (auto)",
        choices=CROWD_MODES,
    )
    max_faces: int | None = option(None, "keep at most N faces per image, most confident first", type=POSITIVE_INT)
    readable_width: int = option(
        READABLE_WIDTH,
        "faces narrower than PX pixels are counted but get no emotion (0 reads every face)",
        type=number(int, 0),
        metavar="PX",
    )

    def analyzer_kwargs(self) -> dict:
        """Analyzer's arguments (the detection size and crowd pass are CenterFace's)."""
        kwargs = {k: v for k, v in vars(self).items() if k not in ("detect_size", "crowd")}
        if self.detector == "centerface":
            kwargs.update(max_side=self.detect_size, crowd=self.crowd)
        return kwargs


@dataclass
class AnalyzeOptions:
    """What `moodlens analyze` writes and which video frames it reads."""

    json: str | None = option(None, "write one record per image or frame to this JSON file")
    csv: str | None = option(None, "write one row per face to this CSV file")
    annotate: str | None = option(None, "write images (and videos) with faces drawn here", metavar="DIR")
    summary: str | None = option(None, "write summary.json and video timelines and people here", metavar="DIR")
    blur: bool = option(False, "blur the faces in what --annotate writes", action="store_true")
    every: int = option(1, "analyse every N-th video frame", type=POSITIVE_INT)
    fps: float | None = option(None, "analyse F video frames a second (overrides --every)", type=POSITIVE)
    batch_size: int = option(16, "images or frames classified per ONNX call", type=POSITIVE_INT)


@dataclass
class Outcome:
    images: int = 0
    frames: int = 0
    faces: int = 0
    errors: list[dict] = field(default_factory=list)
    videos: dict = field(default_factory=dict)
    crowd: dict = field(default_factory=dict)


class Session:
    """One `moodlens analyze` invocation: the analyzer, the open writers and the running totals."""

    def __init__(self, analyzer: Analyzer, options: AnalyzeOptions):
        self.analyzer, self.options = analyzer, options
        self.json = JsonArrayWriter(options.json)
        self.csv = CsvWriter(options.csv, face_columns(analyzer.labels))
        # one row per photo: its crowd, readable faces and shares with their intervals
        images_csv = Path(options.summary) / "images.csv" if options.summary else None
        self.images = CsvWriter(images_csv, ["path", "faces", "readable", *share_columns(analyzer.labels)])
        self.outcome = Outcome()
        self.photos = CrowdTally(analyzer.labels, analyzer.calibration)  # all photos' faces together

    def record(self, result: ImageResult) -> CrowdSummary:
        """Write the result and return its faces' summary."""
        record = result.to_dict()
        summary = crowd_summary(result.faces, self.analyzer.labels, self.analyzer.calibration)
        if result.error:
            self.outcome.errors.append({"path": result.path, "error": result.error})
        else:
            record["summary"] = summary.to_dict()
            if result.frame is None:
                self.images.write([{"path": result.path, **share_values(record["summary"])}])
        self.json.write(record)
        self.csv.write(face_rows([result]))
        self.outcome.faces += len(result.faces)
        if result.frame is None:
            self.photos.add(result.faces)
        return summary

    def run_images(self, paths: list[Path]) -> None:
        names: dict[str, int] = {}
        results = self.analyzer.analyze_sources(((str(p), p) for p in paths), self.options.batch_size)
        for result, image in tqdm(results, total=len(paths), unit="img", disable=None):
            summary = self.record(result)
            self.outcome.images += 1
            if self.options.annotate and image is not None:
                self.write_annotated_image(result, summary, image, names)

    def write_annotated_image(
        self, result: ImageResult, summary: CrowdSummary, image: np.ndarray, names: dict[str, int]
    ) -> None:
        stem = Path(result.path).stem
        names[stem] = names.get(stem, 0) + 1
        target = Path(self.options.annotate) / (f"{stem}.jpg" if names[stem] == 1 else f"{stem}-{names[stem]}.jpg")
        drawn = annotate(image, result.faces, summary, blur=self.options.blur)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise output_error(target, OSError("JPEG encoding failed"))
        write_atomic(target, jpeg.tobytes())

    def run_video(self, source: Path | int) -> None:
        video = VideoSource(source if isinstance(source, int) else str(source), self.options.every, self.options.fps)
        stem = f"webcam{source}" if video.live else Path(source).stem
        summary = VideoSummary(self.analyzer.labels)
        writer = None
        if self.options.annotate:
            Path(self.options.annotate).mkdir(parents=True, exist_ok=True)
            writer = VideoWriter(str(Path(self.options.annotate) / f"{stem}.mp4"), video.native_fps / video.step)
        batch = 1 if video.live else self.options.batch_size
        results = analyze_frames(self.analyzer, video.frames(), video.name, batch)
        try:
            for frame, result in tqdm(
                results, total=video.frame_count // video.step or None, unit="frame", disable=None
            ):
                crowd = self.record(result)
                summary.add(result, crowd)
                self.outcome.frames += 1
                if writer:
                    writer.write(annotate(frame.image, result.faces, crowd, blur=self.options.blur))
        finally:
            if writer:
                writer.close()
            self.finish_video(video.name, stem, summary)

    def finish_video(self, name: str, stem: str, summary: VideoSummary) -> None:
        """The video's outcome: its timeline, people and their files under --summary, else its people count."""
        out_dir = Path(self.options.summary) if self.options.summary else None
        self.outcome.videos[name] = summary.write(out_dir, stem) if out_dir else {"people": len(summary.people)}

    def close(self) -> Outcome:
        self.json.close()
        self.csv.close()
        self.images.close()
        self.outcome.crowd = self.photos.summary().to_dict()
        if self.options.summary:
            write_atomic(Path(self.options.summary) / "summary.json", json.dumps(vars(self.outcome), indent=2))
        return self.outcome


def run_analysis(analyzer: Analyzer, inputs: list[str], webcam: int | None, options: AnalyzeOptions) -> Outcome:
    images, videos = expand_inputs(inputs)
    session = Session(analyzer, options)
    try:
        if images:
            session.run_images(images)
        for source in [*videos, *([webcam] if webcam is not None else [])]:
            try:
                session.run_video(source)
            except VideoError as e:
                session.record(ImageResult(str(source), 0, 0, error=str(e)))
    finally:
        outcome = session.close()
    return outcome
