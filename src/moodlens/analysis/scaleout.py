"""`moodlens analyze --ray`: the same analysis spread over a Ray cluster with Ray Data batch inference.

Images are read as bytes by Ray Data (in parallel, where the files are) and analysed by a pool of
actors that each load the models once; videos go one per task, streamed frame by frame. Records come
back to the driver in input order and are written by the same writers as a local run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from moodlens.analysis.runs import AnalyzeOptions, Outcome, Session, expand_inputs
from moodlens.analysis.summaries import VideoSummary
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.results import ImageResult
from moodlens.runtime.video import VideoError, VideoSource, analyze_frames


class ImageActor:
    """Ray Data actor: a batch of {path, bytes} rows to {record} rows (JSON text)."""

    def __init__(self, analyzer_options: dict):
        self.analyzer = Analyzer(**analyzer_options)

    def __call__(self, batch: dict) -> dict:
        sources = zip(batch["path"], (bytes(b) for b in batch["bytes"]), strict=True)
        results = self.analyzer.analyze_sources(sources, batch_size=len(batch["path"]))
        return {"record": [json.dumps(r.to_dict()) for r, _ in results]}


class VideoActor:
    """Ray Data actor: a {path} row to one {record} row per analysed frame, streamed."""

    def __init__(self, analyzer_options: dict, every: int, fps: float | None):
        self.analyzer = Analyzer(**analyzer_options)
        self.every, self.fps = every, fps

    def __call__(self, row: dict) -> Iterator[dict]:
        path = row["path"]
        try:
            frames = VideoSource(path, self.every, self.fps).frames()
            for _, result in analyze_frames(self.analyzer, frames, path):
                yield {"record": json.dumps(result.to_dict())}
        except VideoError as e:
            yield {"record": json.dumps(ImageResult(path, 0, 0, error=str(e)).to_dict())}


def run_on_ray(
    analyzer_options: dict, inputs: list[str], options: AnalyzeOptions, address: str | None, workers: int
) -> Outcome:
    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    images, videos = expand_inputs(inputs)
    session = Session(Analyzer(**analyzer_options), options)
    try:
        for missing in [p for p in images if not p.is_file()]:
            session.record(ImageResult(str(missing), 0, 0, error=f"{missing}: no such file"))
        images = [p for p in images if p.is_file()]
        if images:
            files = ray.data.read_binary_files([str(p) for p in images], include_paths=True)
            records = files.map_batches(
                ImageActor,
                fn_constructor_args=(analyzer_options,),
                batch_size=options.batch_size,
                concurrency=workers,
            )
            for row in records.iter_rows():
                session.record(ImageResult.from_dict(json.loads(row["record"])))
                session.outcome.images += 1
        if videos:
            rows = ray.data.from_items([{"path": str(p)} for p in videos]).flat_map(
                VideoActor, fn_constructor_args=(analyzer_options, options.every, options.fps), concurrency=workers
            )
            summaries: dict[str, VideoSummary] = {}
            for row in rows.iter_rows():
                result = ImageResult.from_dict(json.loads(row["record"]))
                crowd = session.record(result)
                if not result.error:
                    session.outcome.frames += 1
                    summaries.setdefault(result.path, VideoSummary(session.analyzer.labels)).add(result, crowd)
            for name, summary in summaries.items():
                session.finish_video(name, Path(name).stem, summary)
    finally:
        outcome = session.close()
    return outcome
