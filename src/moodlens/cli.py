"""The single `moodlens` command: train, eval, tune, models."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .datasets import DatasetError
from .detection import THRESHOLD as DETECTION_THRESHOLD
from .labels import UnknownLabelError, parse_classes
from .results import READABLE_WIDTH, summary_lines
from .sampling import BALANCE_MODES


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported in one line instead of the whole usage."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(kind: type, low: float | None = None, high: float | None = None, low_open=False, high_open=False):
    """An argparse type: an int or float within [low, high] (or open at either end)."""
    low_sign, high_sign = ("more than" if low_open else "at least"), ("below" if high_open else "at most")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"must be {low_sign} {low}, got {text}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"must be {high_sign} {high}, got {text}")
        return value

    return parse


POSITIVE_INT = number(int, 1)
POSITIVE = number(float, 0, low_open=True)
NON_NEGATIVE = number(float, 0)
SCORE = number(float, 0, 1, low_open=True)  # 0 < x <= 1
SHARE = number(float, 0, 1)  # a weight between 0 and 1
UNIT_OPEN = number(float, 0, 1, high_open=True)  # 0 <= x < 1


def add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", help="training data: class folders, FER+ folder, FER-2013 CSV or legend.csv")
    p.add_argument("--val", help="validation data (any supported layout); default: a stratified split of DATA")
    p.add_argument(
        "--val-split",
        type=number(float, 0, 1, True, True),
        default=0.1,
        help="validation fraction when --val is not given",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="vgg", help="architecture name (see `moodlens models`)")
    p.add_argument("--width", type=POSITIVE_INT, help="channels of the first stage (model default if omitted)")
    p.add_argument("--dropout", type=UNIT_OPEN, default=0.3)
    p.add_argument("--image-size", type=number(int, 16), default=48)
    p.add_argument("--channels", type=int, choices=(1, 3), default=1)
    p.add_argument("--classes", help="train on a subset, e.g. angry,neutral,sad")
    p.add_argument("--per-class", type=POSITIVE_INT, help="use at most N images per class (quick experiments)")
    p.add_argument("--epochs", type=POSITIVE_INT, default=30)
    p.add_argument("--batch-size", type=POSITIVE_INT, default=128)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--lr", type=POSITIVE, help="peak learning rate (default 0.1 for SGD, 2e-3 for AdamW)")
    p.add_argument("--weight-decay", type=NON_NEGATIVE, default=5e-4)
    p.add_argument("--schedule", choices=("onecycle", "cosine", "plateau", "none"), default="onecycle")
    p.add_argument("--label-smoothing", type=UNIT_OPEN, default=0.1)
    p.add_argument("--mixup", type=NON_NEGATIVE, default=0.0, help="mixup alpha; 0 turns mixup off")
    p.add_argument("--augment", type=NON_NEGATIVE, default=1.0, help="augmentation strength; 0 turns it off")
    p.add_argument("--votes", action="store_true", help="train on FER+ vote distributions (soft targets)")
    p.add_argument(
        "--votes-from",
        metavar="FERPLUS_DIR",
        help="blend the FER+ votes of the same faces (files, symlinks followed) into the targets",
    )
    p.add_argument(
        "--votes-weight",
        type=SHARE,
        default=1.0,
        help="share of the votes in each target with --votes or --votes-from; the rest is the face's label",
    )
    p.add_argument(
        "--photos",
        action="append",
        metavar="DATA",
        help="labelled uncropped photos (e.g. a legend.csv set) added to the training faces: the largest face "
        "found in each is cut as analysis cuts it; repeat for several sets",
    )
    p.add_argument("--photos-repeat", type=POSITIVE_INT, default=1, help="times each --photos face is seen per epoch")
    p.add_argument(
        "--init",
        metavar="MODEL",
        help="start from a trained model (run directory, .pt or shipped name) and its architecture: fine-tuning",
    )
    p.add_argument(
        "--teacher",
        dest="teachers",
        action="append",
        metavar="MODEL",
        help="distil a trained model (run directory, .pt or shipped name) into this one; repeat for an ensemble",
    )
    p.add_argument(
        "--teacher-weight", type=SHARE, default=0.5, help="share of the teachers' mean prediction in each target"
    )
    p.add_argument("--balance", choices=BALANCE_MODES, default="none")
    p.add_argument(
        "--no-clean",
        dest="clean",
        action="store_false",
        help="keep duplicates, conflicting labels, blank faces and validation leaks",
    )
    p.add_argument(
        "--patience", type=number(int, 0), default=0, help="early stopping after N epochs without improvement"
    )
    p.add_argument("--select", choices=("accuracy", "macro_f1", "balanced_accuracy"), default="accuracy")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    p.add_argument("--tta", choices=("flip",), help="test-time augmentation during validation")


def train_config(args: argparse.Namespace, out: str):
    from .training import TrainConfig

    if not args.data:
        raise DatasetError("give the training DATA path (or --resume RUN_DIR)")
    return TrainConfig(
        data=args.data,
        out=out,
        val=args.val,
        val_split=args.val_split,
        seed=args.seed,
        model=args.model,
        width=args.width,
        dropout=args.dropout,
        image_size=args.image_size,
        channels=args.channels,
        classes=parse_classes(args.classes),
        per_class=args.per_class,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        label_smoothing=args.label_smoothing,
        mixup=args.mixup,
        augment=args.augment,
        votes=args.votes,
        votes_from=args.votes_from,
        votes_weight=args.votes_weight,
        photos=args.photos,
        photos_repeat=args.photos_repeat,
        init=args.init,
        teachers=args.teachers,
        teacher_weight=args.teacher_weight,
        balance=args.balance,
        clean=args.clean,
        patience=args.patience,
        select=args.select,
        precision=args.precision,
        eval_tta=args.tta,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from .models import MODELS
    from .training import TrainConfig, train

    if args.resume:
        cfg = TrainConfig.from_run(Path(args.resume))
    else:
        if args.model not in MODELS:
            raise ValueError(f"unknown model {args.model!r}; available: {', '.join(sorted(MODELS))}")
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
    from .evaluation import evaluate

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
    from .tuning import tune

    summary = tune(train_config(args, args.out), args.trials, args.out)
    print(f"best {summary['metric']} {summary['best_value']:.4f} with {summary['best_params']}")
    print(f"search picture: {Path(args.out) / 'search.png'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    result = export(args.model, args.out, args.data, args.calibration, int8=not args.no_int8)
    print(json.dumps(result, indent=2))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analyze import AnalyzeOptions, run_analysis
    from .pipeline import Analyzer

    if not args.inputs and args.webcam is None:
        raise ValueError("give images, folders or videos to analyse, or --webcam N")
    if args.ray and args.webcam is not None:
        raise ValueError("--webcam runs on this machine: drop --ray")
    analyzer_options = {
        "model": args.model,
        "detector": args.detector,
        "threshold": args.threshold,
        "max_faces": args.max_faces,
        "readable_width": args.readable_width,
        **({"max_side": args.detect_size, "crowd": args.crowd} if args.detector == "centerface" else {}),
    }
    options = AnalyzeOptions(
        json=args.json,
        csv=args.csv,
        annotate=args.annotate,
        summary=args.summary,
        blur=args.blur,
        every=args.every,
        fps=args.fps,
        batch_size=args.batch_size,
    )
    if args.ray:
        from .scaleout import run_on_ray

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
        found, *moods = summary_lines(crowd)
        print(f"faces in the images: {found}" + (f"; {', '.join(moods)}" if moods else ""))
    for name, video in outcome.videos.items():
        print(f"{name}: {video['people']} people tracked")
    for error in outcome.errors:
        print(f"error: {error['error']}", file=sys.stderr)
    return 1 if outcome.errors else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = {
        "MOODLENS_MODEL": args.model,
        "MOODLENS_THREADS": args.threads,
        "MOODLENS_MAX_UPLOAD_MB": args.max_upload_mb,
        "MOODLENS_MAX_PENDING": args.max_pending,
        "MOODLENS_MAX_LIVE": args.max_live,
    }
    os.environ.update({key: str(value) for key, value in settings.items()})  # read by every worker process
    print(f"moodlens: serving on http://{args.host}:{args.port}/ (API docs at /docs)")
    with tempfile.TemporaryDirectory(prefix="moodlens-metrics-") as shared_metrics:
        if args.workers > 1:  # the processes write their counts here and every scrape adds them up
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared_metrics
        uvicorn.run(
            "moodlens.server:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="warning",
        )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import describe_models

    print(f"{'name':<10} {'width':>5} {'params':>10} {'MFLOPs/face':>12}  summary")
    for row in describe_models():
        print(f"{row['name']:<10} {row['width']:>5} {row['params']:>10,} {row['mflops']:>12.1f}  {row['summary']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="moodlens", description="Facial emotion recognition: train, evaluate, analyse.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train an emotion CNN")
    add_training_options(p)
    p.add_argument("--out", help="run directory (default runs/MODEL-N)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("eval", help="evaluate a model on a labelled data set")
    p.add_argument("data")
    p.add_argument("--model", default="default", help="run directory, .pt or .onnx file, or shipped model name")
    p.add_argument("--out", required=True, help="directory for metrics.json, pictures and report.html")
    p.add_argument("--tta", choices=("flip",))
    p.add_argument("--per-class", type=POSITIVE_INT)
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="fp32")
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
    p.add_argument("--trials", type=POSITIVE_INT, default=20)
    p.add_argument("--out", default="runs/tune", help="study directory (resumable)")
    p.set_defaults(func=cmd_tune)

    p = commands.add_parser("export", help="export a model to ONNX (fp32, and int8 if it keeps its accuracy)")
    p.add_argument("model", help="run directory, .pt file or shipped model name")
    p.add_argument("--out", required=True, help="path of the .onnx file to write")
    p.add_argument("--data", required=True, help="labelled faces to check the export and the int8 accuracy on")
    p.add_argument("--calibration", help="faces to calibrate int8 activations on (default: --data)")
    p.add_argument("--no-int8", action="store_true", help="write the fp32 model only")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser("analyze", help="find every face in photos, folders, videos or a webcam and its emotion")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or video files")
    p.add_argument("--webcam", type=number(int, 0), metavar="N", help="analyse camera N live (Ctrl-C stops)")
    p.add_argument("--model", default="default", help="shipped model name or .onnx file")
    p.add_argument("--detector", default="centerface", help="face detector: centerface or haar")
    p.add_argument("--threshold", type=SCORE, default=DETECTION_THRESHOLD, help="detector confidence threshold")
    p.add_argument(
        "--detect-size",
        type=number(int, 32),
        default=320,
        help="longer side (px) the detector sees; raise for small faces",
    )
    p.add_argument(
        "--crowd",
        choices=("auto", "on", "off"),
        default="auto",
        help="second detection pass at full resolution for small faces: when the first pass finds some (auto)",
    )
    p.add_argument("--max-faces", type=POSITIVE_INT, help="keep at most N faces per image, most confident first")
    p.add_argument(
        "--readable-width",
        type=number(int, 0),
        default=READABLE_WIDTH,
        metavar="PX",
        help="faces narrower than PX pixels are counted but get no emotion (0 reads every face)",
    )
    p.add_argument("--json", help="write one record per image or frame to this JSON file")
    p.add_argument("--csv", help="write one row per face to this CSV file")
    p.add_argument("--annotate", metavar="DIR", help="write images (and videos) with faces drawn here")
    p.add_argument("--summary", metavar="DIR", help="write summary.json and video timelines and people here")
    p.add_argument("--blur", action="store_true", help="blur the faces in what --annotate writes")
    p.add_argument("--every", type=POSITIVE_INT, default=1, help="analyse every N-th video frame")
    p.add_argument("--fps", type=POSITIVE, help="analyse F video frames a second (overrides --every)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="images or frames classified per ONNX call")
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
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=number(int, 0, 65535), default=8000)
    p.add_argument("--workers", type=POSITIVE_INT, default=1, help="server processes (each loads its own models)")
    p.add_argument("--threads", type=POSITIVE_INT, default=2, help="analysis threads per process")
    p.add_argument("--model", default="default", help="model used when a request names none")
    p.add_argument("--max-upload-mb", type=POSITIVE, default=20.0, help="larger request bodies get 413")
    p.add_argument(
        "--max-pending",
        type=POSITIVE_INT,
        default=16,
        help="requests and live frames in progress per process before 503",
    )
    p.add_argument("--max-live", type=POSITIVE_INT, default=8, help="open webcam (/v1/live) connections per process")
    p.set_defaults(func=cmd_serve)

    p = commands.add_parser("models", help="list the registered architectures")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, UnknownLabelError, FileNotFoundError, FileExistsError, ValueError) as exc:
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
