"""A training run's settings: each option's name, default, bounds and help in one place (no PyTorch here).

`moodlens train` and `moodlens tune` make their options from these fields; a run directory keeps them in
config.json, so that `--resume` continues with the same settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from moodlens.argtypes import NON_NEGATIVE, POSITIVE, POSITIVE_INT, SHARE, UNIT_OPEN, emotion_list, number, option
from moodlens.data.sampling import BALANCE_MODES
from moodlens.runtime.errors import MoodlensError

OPTIMIZERS = ("sgd", "adamw")
DEFAULT_LR = {"sgd": 0.1, "adamw": 2e-3}  # peak learning rate when --lr is not given
SCHEDULES = ("onecycle", "cosine", "plateau", "none")
SELECT_METRICS = ("accuracy", "macro_f1", "balanced_accuracy")
PRECISIONS = ("auto", "bf16", "fp32")
DEVICES = ("auto", "cpu", "cuda")
# Sides a --low-res face is shrunk to, as fractions of the input side: a face 24 px wide in a photo reaches
# the 48-px crop from about 29 px of the photo (the crop's margin), one 32 px wide from about 38.
LOW_RES_SIDES = (1 / 3, 0.85)


@dataclass
class TrainConfig:
    data: str = option(None, "training data: class folders, FER+ folder, FER-2013 CSV or legend.csv", positional=True)
    out: str = option(None, "run directory (default runs/MODEL-N)", cli=False)
    val: str | None = option(None, "validation data (any supported layout); default: a stratified split of DATA")
    val_split: float = option(
        0.1, "validation share of DATA when --val is not given", type=number(float, 0, 1, True, True)
    )
    seed: int = option(0, "seed of the split, the shuffling, augmentation and initial weights", type=int)
    model: str = option("vgg", "architecture name (see `moodlens models`)")
    width: int | None = option(None, "channels of the first stage (the model's default if omitted)", type=POSITIVE_INT)
    dropout: float = option(0.3, "dropout before the classifier", type=UNIT_OPEN)
    image_size: int = option(48, "side of the square faces the model sees, in pixels", type=number(int, 16))
    channels: int = option(1, "1: greyscale faces, 3: colour", type=int, choices=(1, 3))
    classes: list[str] | None = option(None, "train on a subset, e.g. angry,neutral,sad", type=emotion_list)
    per_class: int | None = option(None, "use at most N images per class (quick experiments)", type=POSITIVE_INT)
    epochs: int = option(30, "passes over the training data", type=POSITIVE_INT)
    batch_size: int = option(128, "faces per optimisation step (over all processes)", type=POSITIVE_INT)
    optimizer: str = option("sgd", "sgd (Nesterov momentum 0.9) or adamw", choices=OPTIMIZERS)
    lr: float | None = option(
        None,
        "peak learning rate (default: " + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_LR.items()) + ")",
        type=POSITIVE,
    )
    weight_decay: float = option(5e-4, "L2 weight decay of the convolution and linear weights", type=NON_NEGATIVE)
    schedule: str = option(
        "onecycle",
        "learning-rate schedule: per step (onecycle, cosine after a warm-up epoch) or per epoch (plateau)",
        choices=SCHEDULES,
    )
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy loss", type=UNIT_OPEN)
    mixup: float = option(
        0.0, "mixup alpha: Beta(alpha, alpha) blends of pairs of faces; 0 turns mixup off", type=NON_NEGATIVE
    )
    ema: float = option(
        0.0,
        "decay of an exponential moving average of the weights, updated every step (e.g. 0.998): validation and "
        "the checkpoints' model are the average; 0 turns it off",
        type=UNIT_OPEN,
    )
    augment: float = option(1.0, "augmentation strength; 0 turns it off", type=NON_NEGATIVE)
    low_res: float = option(
        0.0,
        f"share of the training faces shrunk to {LOW_RES_SIDES[0]:.2f} to {LOW_RES_SIDES[1]:.2f} of their side and "
        "enlarged back each epoch, as faces 24 to 40 px wide reach the model; 0 turns it off",
        type=SHARE,
    )
    votes: bool = option(False, "train on FER+ vote distributions (soft targets)", action="store_true")
    votes_from: str | None = option(
        None,
        "blend the FER+ votes of the same faces (files, symlinks followed) into the targets",
        metavar="FERPLUS_DIR",
    )
    votes_weight: float = option(
        1.0, "share of the votes in each target with --votes or --votes-from; the rest is the face's label", type=SHARE
    )
    photos: list[str] | None = option(
        None,
        "labelled uncropped photos (e.g. a legend.csv set) added to the training faces: the largest face found in "
        "each is cut as analysis cuts it; repeat for several sets",
        action="append",
        metavar="DATA",
    )
    photos_repeat: int = option(1, "times each --photos face is seen per epoch", type=POSITIVE_INT)
    init: str | None = option(
        None,
        "start from a trained model (run directory, .pt or shipped name) and its architecture: fine-tuning; "
        "classes it lacks get a fresh output",
        metavar="MODEL",
    )
    pretrained: bool = option(
        False,
        "start the network from ImageNet weights (models that have them: efficientnet_lite0)",
        action="store_true",
    )
    teachers: list[str] | None = option(
        None,
        "distil a trained model (run directory, .pt or shipped name) or the predictions a distilled run kept "
        "(its teacher_probs.npz) into this one; repeat for an ensemble",
        flag="--teacher",
        action="append",
        metavar="MODEL",
    )
    teacher_weight: float = option(0.5, "share of the teachers' mean prediction in each target", type=SHARE)
    photos_teacher_weight: float | None = option(
        None,
        "share of the teachers' prediction in the targets of --photos faces (default: --teacher-weight); "
        "0 keeps the photos' own labels",
        type=SHARE,
    )
    balance: str = option(
        "none",
        "class balancing: loss weights (inverse frequency or its square root), oversampling or new faces",
        choices=BALANCE_MODES,
    )
    clean: bool = option(
        True,
        "keep duplicates, conflicting labels, blank faces and validation leaks",
        flag="--no-clean",
        action="store_false",
    )
    patience: int = option(0, "stop early after N epochs without improvement; 0 never stops", type=number(int, 0))
    select: str = option("accuracy", "validation metric that picks the best checkpoint", choices=SELECT_METRICS)
    device: str = option("auto", "where to train: a CUDA GPU where PyTorch sees one (auto), cpu, cuda", choices=DEVICES)
    precision: str = option(
        "auto", "bf16 autocast on CUDA GPUs and CPUs with AMX (auto), or always/never", choices=PRECISIONS
    )
    eval_tta: str | None = option(None, "test-time augmentation during validation", flag="--tta", choices=("flip",))

    def __post_init__(self) -> None:
        for name in ("votes_weight", "teacher_weight", "photos_teacher_weight", "low_res"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) <= 1.0:
                raise MoodlensError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.pretrained and self.init:
            raise MoodlensError(
                "--pretrained starts a new network from ImageNet weights; --init starts from a trained one: pick one"
            )

    @classmethod
    def from_run(cls, run_dir: Path) -> TrainConfig:
        """The config a run directory was started with (its config.json), for --resume."""
        saved = json.loads((Path(run_dir) / "config.json").read_text())
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]
