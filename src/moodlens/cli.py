"""The single `moodlens` command: analyze, record, sessions, serve, train, eval, tune, export, models."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from moodlens.analysis.runs import AnalyzeOptions, AnalyzerOptions
from moodlens.argtypes import POSITIVE, POSITIVE_INT, add_options, number, options_from
from moodlens.data.readers import DatasetError
from moodlens.recording.options import BUCKET, RecordOptions
from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.weights import DEFAULT_MODEL
from moodlens.training.config import PRECISIONS, TrainConfig


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported in one line instead of the whole usage, and defaults in --help."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, formatter_class=HelpWithDefaults, **kwargs)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpWithDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        if (
            action.default in (None, False, True, argparse.SUPPRESS)
            or "%(default)" in help
            or not action.option_strings
        ):
            return help
        return f"{help} (default: %(default)s)"


def add_training_options(p: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, with the field's default, bounds and help."""
    for f in fields(TrainConfig):
        meta = dict(f.metadata)
        if not meta.pop("cli", True):
            continue
        if meta.pop("positional", False):
            p.add_argument(f.name, nargs="?", **meta)
            continue
        flag = meta.pop("flag", "--" + f.name.replace("_", "-"))
        p.add_argument(flag, dest=f.name, default=f.default, **meta)


def train_config(args: argparse.Namespace, out: str) -> TrainConfig:
    if not args.data:
        raise DatasetError("give the training DATA path (or --resume RUN_DIR)")
    options = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.metadata.get("cli", True)}
    return TrainConfig(**options, out=out)


def cmd_train(args: argparse.Namespace) -> int:
    from moodlens.training.loop import train
    from moodlens.training.models import MODELS

    if args.resume:
        cfg = TrainConfig.from_run(Path(args.resume))
    else:
        if args.model not in MODELS:
            raise MoodlensError(f"unknown model {args.model!r}; available: {', '.join(sorted(MODELS))}")
        cfg = train_config(args, args.out or default_run_dir(args.model))
    result = train(cfg, resume=bool(args.resume))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"run": cfg.out, **result}))
    return 0


def default_run_dir(model: str) -> str:
    index = 1
    while Path("runs", f"{model}-{index}").exists():
        index += 1
    return str(Path("runs", f"{model}-{index}"))


def cmd_eval(args: argparse.Namespace) -> int:
    from moodlens.evaluation.evaluate import evaluate

    metrics = evaluate(
        args.data,
        args.model,
        args.out,
        tta=args.tta,
        per_class=args.per_class,
        precision=args.precision,
        detect=args.detect,
    )
    print(
        f"accuracy {metrics['accuracy']:.4f}  balanced accuracy {metrics['balanced_accuracy']:.4f}  "
        f"macro F1 {metrics['macro_f1']:.4f}  on {metrics['samples']} faces"
    )
    if metrics["left_out"]:
        print(f"left out (labels the model does not know): {metrics['left_out']}")
    if metrics["skipped_count"]:
        print(f"skipped {metrics['skipped_count']} files (unreadable or no face), listed in metrics.json")
    if args.detect:
        missed, with_misses = metrics["no_face"], metrics["accuracy_with_misses"]
        print(f"no face found in {missed} photos; accuracy counting them as wrong {with_misses:.4f}")
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from moodlens.training.tuning import tune

    summary = tune(train_config(args, args.out), args.trials, args.out)
    print(f"best {summary['metric']} {summary['best_value']:.4f} with {summary['best_params']}")
    print(f"search picture: {Path(args.out) / 'search.png'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from moodlens.evaluation.export import export

    result = export(args.model, args.out, args.data, args.calibration, int8=not args.no_int8)
    print(json.dumps(result, indent=2))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from moodlens.evaluation.calibrate import calibrate

    report = calibrate(args.model, args.photos, args.faces or [], args.detector, Path(args.out) if args.out else None)
    print(json.dumps(report, indent=2))
    print(f"calibration written to {report['calibration']}: `moodlens analyze --model {args.model}` now uses it")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from moodlens.analysis.runs import run_analysis
    from moodlens.runtime.pipeline import Analyzer

    if not args.inputs and args.webcam is None:
        raise MoodlensError("give images, folders or videos to analyse, or --webcam N")
    if args.ray and args.webcam is not None:
        raise MoodlensError("--webcam runs on this machine: drop --ray")
    if args.ray and (args.annotate or args.blur):
        raise MoodlensError("--ray writes records and summaries, not pictures: drop --annotate and --blur, or --ray")
    analyzer_options = options_from(args, AnalyzerOptions).analyzer_kwargs()
    options = options_from(args, AnalyzeOptions)
    if args.ray:
        from moodlens.analysis.scaleout import run_on_ray

        address = None if args.ray == "local" else args.ray
        outcome = run_on_ray(analyzer_options, args.inputs, options, address, args.workers)
    else:
        outcome = run_analysis(Analyzer(**analyzer_options), args.inputs, args.webcam, options)
    crowd = outcome.crowd
    line = f"{outcome.images} images with {crowd['faces']} faces"
    if outcome.frames:
        line += f"; {outcome.frames} video frames with {outcome.faces - crowd['faces']} face detections"
    print(line)
    if crowd["faces"]:
        found, *moods = crowd["lines"]
        print(f"faces in the images: {found}" + (f"; {', '.join(moods)}" if moods else ""))
    for name, video in outcome.videos.items():
        print(f"{name}: {video['people']} people tracked")
    for error in outcome.errors:
        print(f"error: {error['error']}", file=sys.stderr)
    return 1 if outcome.errors else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from moodlens.server.security import is_loopback
    from moodlens.server.settings import ServerSettings, environment_name

    given = {name: value for name in ServerSettings.model_fields if (value := getattr(args, name, None)) is not None}
    try:
        settings = ServerSettings(**given)
    except ValidationError as e:
        error = e.errors()[0]  # options were checked by argparse: this is a MOODLENS_* variable
        raise MoodlensError(f"{environment_name(str(error['loc'][0]))}: {error['msg'].lower()}") from None
    os.environ.update({environment_name(name): str(getattr(settings, name)) for name in given})  # every worker's
    print(f"moodlens: serving on http://{settings.host}:{args.port}/ (API docs at /docs)")
    if not is_loopback(settings.host):
        guard = "session writes need the token" if settings.token else "set --token to allow them"
        print(
            f"moodlens: warning: {settings.host} is reachable from other machines; anyone who can reach it can "
            f"analyse photos and read sessions ({guard}); see README, Serving on a network",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="moodlens-metrics-") as shared_metrics:
        if args.workers > 1:  # the processes write their counts here and every scrape adds them up
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared_metrics
        uvicorn.run(
            "moodlens.server.app:create_app",
            factory=True,
            host=settings.host,
            port=args.port,
            workers=args.workers,
            log_level="warning",
        )
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from moodlens.recording.recorder import record, stop_on_ctrl_c
    from moodlens.recording.store import Store
    from moodlens.recording.timeline import session_settings
    from moodlens.runtime.pipeline import Analyzer

    store = Store(args.db)
    detection = options_from(args, AnalyzerOptions)
    analyzer = Analyzer(**detection.analyzer_kwargs())
    options = options_from(args, RecordOptions)
    settings = session_settings(args.model, analyzer.calibration, readable_width=detection.readable_width)
    print(f"moodlens: recording {args.source} into session {args.session!r} at {store.url} (Ctrl-C stops)")
    with stop_on_ctrl_c() as interrupted:
        written = record(store, args.session, analyzer, args.source, options, settings, stop=interrupted)
    print(f"{written} steps recorded")
    if interrupted():
        print("moodlens: interrupted", file=sys.stderr)
        return 130
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    from moodlens.recording.export import export_bytes, format_of
    from moodlens.recording.store import Store
    from moodlens.recording.timeline import timeline
    from moodlens.runtime.files import write_atomic

    store = Store(args.db)
    if args.action == "list":
        print(f"{'session':<30} {'steps':>7}  {'from':<19}  {'to':<19}")
        for row in store.summaries():
            first, last = (clock(row[key]) for key in ("first", "last"))
            print(f"{row['name']:<30} {row['steps']:>7}  {first:<19}  {last:<19}")
        return 0
    if not args.name:
        raise MoodlensError(f"moodlens sessions {args.action} needs a session NAME")
    if args.action == "delete":
        store.delete(args.name)
        print(f"session {args.name!r} deleted")
        return 0
    session = store.get(args.name)
    line = timeline(session, store.read_steps(session), args.bucket)
    if args.action == "show":
        print(json.dumps(line, indent=2))
        return 0
    if not args.out:
        raise MoodlensError("moodlens sessions export needs --out FILE.csv or FILE.parquet")
    write_atomic(args.out, export_bytes(line, format_of(args.out)))
    print(f"{len(line['buckets'])} rows of {args.bucket:g} s written to {args.out}")
    return 0


def clock(seconds: float | None) -> str:
    """Unix seconds as local date and time, or '-'."""
    from datetime import datetime

    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") if seconds else "-"


def cmd_models(args: argparse.Namespace) -> int:
    from moodlens.training.models import describe_models

    print(f"{'name':<10} {'width':>5} {'params':>10} {'MFLOPs/face':>12}  summary")
    for row in describe_models():
        print(f"{row['name']:<10} {row['width']:>5} {row['params']:>10,} {row['mflops']:>12.1f}  {row['summary']}")
    return 0


def add_database(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", help="sessions' database URL (default: MOODLENS_DATABASE or an SQLite file in ~/.local/share)"
    )


def add_server_settings(p: argparse.ArgumentParser) -> None:
    """An option for each of the server's settings, from their one definition (ServerSettings): unset, the
    setting's MOODLENS_<NAME> variable or its default applies. Without the [serve] extra there are none to list."""
    try:
        from moodlens.server.settings import ServerSettings, environment_name
    except ModuleNotFoundError:
        p.add_argument("settings", nargs=argparse.REMAINDER, help="needs pip install 'moodlens[serve]'")
        return
    flags = {"database": "--db"}
    for name, field in ServerSettings.model_fields.items():
        flag = flags.get(name, "--" + name.replace("_", "-"))
        default = f"default {field.default!r}, " if field.default not in ("", None) else ""
        help = f"{field.description} ({default}or {environment_name(name)})"
        p.add_argument(flag, dest=name, type=setting_type(field), metavar=name.upper(), help=help)


def setting_type(field):
    """An argparse type that checks a value against the setting's own type and bounds, in one line."""
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)

    def parse(text: str):
        try:
            return adapter.validate_strings(text)
        except ValidationError as e:
            raise argparse.ArgumentTypeError(e.errors()[0]["msg"].lower()) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="moodlens", description="Facial emotion recognition: train, evaluate, analyse.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train an emotion CNN")
    add_training_options(p)
    p.add_argument("--out", help="run directory (default runs/MODEL-N)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("eval", help="evaluate a model on a labelled data set")
    p.add_argument("data", help="labelled faces (or photos with --detect) in any layout `moodlens train` reads")
    p.add_argument("--model", default=DEFAULT_MODEL, help="run directory, .pt or .onnx file, or shipped model name")
    p.add_argument("--out", required=True, help="directory for metrics.json, pictures and report.html")
    p.add_argument("--tta", choices=("flip",), help="test-time augmentation: average each face and its mirror")
    p.add_argument("--per-class", type=POSITIVE_INT, help="score at most N faces per class (quick checks)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="PyTorch models: bf16 autocast or fp32")
    p.add_argument(
        "--detect",
        nargs="?",
        const="centerface",
        metavar="DETECTOR",
        help="the data are uncropped photos: score the largest face found (detector: centerface or haar)",
    )
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser("tune", help="search hyper-parameters with Optuna")
    add_training_options(p)
    p.add_argument("--trials", type=POSITIVE_INT, default=20, help="trials to run (on top of those in --out)")
    p.add_argument("--out", default="runs/tune", help="study directory (resumable)")
    p.set_defaults(func=cmd_tune)

    p = commands.add_parser("export", help="export a model to ONNX (fp32, and int8 if it keeps its accuracy)")
    p.add_argument("model", help="run directory, .pt file or shipped model name")
    p.add_argument("--out", required=True, help="path of the .onnx file to write")
    p.add_argument("--data", required=True, help="labelled faces to check the export and the int8 accuracy on")
    p.add_argument("--calibration", help="faces to calibrate int8 activations on (default: --data)")
    p.add_argument("--no-int8", action="store_true", help="write the fp32 model only")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser(
        "calibrate", help="measure an exported model's calibration and confusions on labelled photos it never saw"
    )
    p.add_argument("model", help="an .onnx file written by `moodlens export`")
    p.add_argument(
        "--photos",
        action="append",
        required=True,
        help="labelled photos it never trained on, like those it will read (their largest face; repeatable)",
    )
    p.add_argument(
        "--faces",
        action="append",
        help="labelled face crops it never trained on: for the temperature, and each a kind of faces of its own "
        "(a crowd whose answers are more like these is corrected with their confusion; repeatable)",
    )
    p.add_argument("--detector", default="centerface", help="the detector that finds the photos' faces")
    p.add_argument("--out", help="where to write the calibration (default: beside the model, as analysis finds it)")
    p.set_defaults(func=cmd_calibrate)

    p = commands.add_parser("analyze", help="find every face in photos, folders, videos or a webcam and its emotion")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or video files")
    p.add_argument("--webcam", type=number(int, 0), metavar="N", help="analyse camera N live (Ctrl-C stops)")
    add_options(p, AnalyzerOptions)
    add_options(p, AnalyzeOptions)
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run on Ray: a local instance, or a cluster at ray://HOST:PORT or auto",
    )
    p.add_argument("--workers", type=POSITIVE_INT, default=2, help="Ray actors, each with its own models")
    p.set_defaults(func=cmd_analyze)

    p = commands.add_parser("serve", help="the web page and REST API")
    p.add_argument("--port", type=number(int, 0, 65535), default=8000, help="TCP port to listen on")
    p.add_argument("--workers", type=POSITIVE_INT, default=1, help="server processes (each loads its own models)")
    add_server_settings(p)
    p.set_defaults(func=cmd_serve)

    p = commands.add_parser("record", help="record an event's mood into a session: webcam, video, stream or screen")
    p.add_argument(
        "source", help="webcam number, video file, stream URL (rtsp://, http://), 'screen' or 'screen:L,T,W,H'"
    )
    p.add_argument("--session", required=True, help="session name; an existing session is continued")
    add_options(p, RecordOptions)
    add_options(p, AnalyzerOptions)
    add_database(p)
    p.set_defaults(func=cmd_record)

    p = commands.add_parser("sessions", help="list, show, export or delete recorded sessions")
    p.add_argument("action", choices=("list", "show", "export", "delete"), help="what to do")
    p.add_argument("name", nargs="?", help="the session (all but list)")
    p.add_argument("--bucket", type=POSITIVE, default=BUCKET, metavar="SECONDS", help="timeline bucket length")
    p.add_argument("--out", help="export: the .csv or .parquet file to write")
    add_database(p)
    p.set_defaults(func=cmd_sessions)

    p = commands.add_parser("models", help="list the registered architectures (needs moodlens[train])")
    p.set_defaults(func=cmd_models)
    return parser


# The extra that brings each optional dependency: `pip install moodlens` alone analyses photos and videos.
EXTRAS = {
    "torch": "train",
    "optuna": "train",
    "onnx": "train",
    "onnxscript": "train",
    "fastapi": "serve",
    "fastapi_offline": "serve",
    "uvicorn": "serve",
    "starlette": "serve",
    "multipart": "serve",
    "prometheus_client": "serve",
    "av": "video",
    "ray": "ray",
    "sqlalchemy": "record",
    "mss": "record",
    "pyarrow": "record",
    "psycopg": "postgres",
}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """One line saying what to install, if `error` is an optional dependency that is not installed."""
    module = (error.name or "").split(".")[0]
    if module not in EXTRAS:
        return None
    return f"this needs {module}, which `pip install moodlens` leaves out: pip install 'moodlens[{EXTRAS[module]}]'"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as exc:
        if (message := missing_extra(exc)) is None or os.environ.get("MOODLENS_DEBUG"):
            raise
        print(f"moodlens: error: {message}", file=sys.stderr)
        return 2
    except (MoodlensError, FileNotFoundError, FileExistsError) as exc:
        if os.environ.get("MOODLENS_DEBUG"):
            raise
        print(f"moodlens: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, an unwritable path: what was written before stays valid
        if os.environ.get("MOODLENS_DEBUG"):
            raise
        message = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
        print(f"moodlens: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("moodlens: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
