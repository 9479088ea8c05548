"""The training loop: one run directory, atomic checkpoints, exact resume, CPU or CUDA, optional DDP."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from moodlens.data.cleaning import quality_summary
from moodlens.data.sampling import WEIGHT_POWERS, class_weights, oversampled_order
from moodlens.runtime.files import output_error, write_atomic
from moodlens.runtime.metrics import classification_metrics, confusion_matrix
from moodlens.training.checkpoints import load_starting_model, read_checkpoint, save_atomic
from moodlens.training.config import OPTIMIZERS, SCHEDULES, TrainConfig
from moodlens.training.data import TrainingData, prepare_training_data
from moodlens.training.distillation import distilled_targets
from moodlens.training.imagenet import load_imagenet
from moodlens.training.inference import autocast, describe_device, predict_probs, resolve_device, resolve_precision
from moodlens.training.models import ModelConfig, count_parameters, create_model
from moodlens.training.transforms import AugmentConfig, augment, random_low_resolution, to_tensor


def _distributed(device: torch.device) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.resolved_lr(), momentum=0.9, nesterov=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.resolved_lr())
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")


def build_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """Per-step schedules (onecycle, cosine with one warm-up epoch) or per-epoch plateau decay."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.resolved_lr(), total_steps=total)
    if cfg.schedule == "cosine":
        warmup = steps_per_epoch

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=3)
    if cfg.schedule == "none":
        return None
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg.schedule!r}")


def epoch_order(cfg: TrainConfig, y: np.ndarray, epoch: int, rank: int, world: int) -> np.ndarray:
    """This rank's share of the epoch's shuffled indices; the same for every run with this seed."""
    rng = np.random.default_rng([cfg.seed, epoch])
    order = oversampled_order(y, rng) if cfg.balance == "oversample" else rng.permutation(len(y))
    order = order[: len(order) - len(order) % world]
    return order[rank::world]


def mix(x: torch.Tensor, targets: torch.Tensor, alpha: float, generator: torch.Generator):
    """mixup: blend each face and its target with another face of the batch."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(x), generator=generator)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    targets: torch.Tensor,
    precision: str,
    label_smoothing: float = 0.0,
    loss_weights: torch.Tensor | None = None,
):
    """One optimisation step on a batch; returns the logits and the loss."""
    with autocast(precision, x.device):
        logits = model(x.contiguous(memory_format=torch.channels_last))
    loss = F.cross_entropy(logits.float(), targets, weight=loss_weights, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits, loss


def unwrap(model: nn.Module) -> nn.Module:
    """The model itself, out of its DistributedDataParallel wrapper when it has one."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@dataclass
class RunState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    epoch: int = 0  # epochs completed
    best_score: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    ema: AveragedModel | None = None  # with --ema: the average of the weights, what is validated and kept


def scored_model(state: RunState) -> nn.Module:
    """The model that is validated and checkpointed: the weights' moving average with --ema."""
    return state.ema.module if state.ema is not None else unwrap(state.model)


def train_one_epoch(
    cfg: TrainConfig,
    state: RunState,
    td: TrainingData,
    precision: str,
    rank: int,
    world: int,
    loss_weights: torch.Tensor | None,
    steps: int,
    device: torch.device,
) -> dict:
    """One pass over the training faces; augmentation runs on the CPU (the same faces whatever the device)."""
    order = epoch_order(cfg, td.train_y, state.epoch, rank, world)
    per_rank_batch = max(1, min(cfg.batch_size // world, len(order)))
    generator = torch.Generator().manual_seed(cfg.seed * 100_003 + state.epoch * 7 + rank)
    torch.manual_seed(cfg.seed * 100_003 + state.epoch)  # dropout
    aug = AugmentConfig().scaled(cfg.augment)
    state.model.train()
    loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    bar = tqdm(
        range(steps),
        desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
        unit="batch",
        disable=rank != 0 or None,
        leave=False,
        dynamic_ncols=True,
    )
    for step in bar:
        idx = order[step * per_rank_batch : (step + 1) * per_rank_batch]
        x = to_tensor(td.train.images[idx])
        targets = torch.from_numpy(td.train_targets[idx])
        if cfg.low_res > 0:
            x = random_low_resolution(x, cfg.low_res, generator)
        if cfg.augment > 0:
            x = augment(x, aug, generator)
        if cfg.mixup > 0:
            x, targets = mix(x, targets, cfg.mixup, generator)
        x, targets = x.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        logits, loss = train_step(
            state.model, state.optimizer, x, targets, precision, cfg.label_smoothing, loss_weights
        )
        if state.schedule is not None and cfg.schedule != "plateau":
            state.schedule.step()
        if state.ema is not None:
            state.ema.update_parameters(unwrap(state.model))
        loss_sum += loss.item() * len(idx)
        correct += int((logits.argmax(1) == targets.argmax(1)).sum())
        seen += len(idx)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", img_s=f"{seen * world / (time.perf_counter() - start):.0f}")
    seconds = time.perf_counter() - start
    return {"train_loss": loss_sum / seen, "train_accuracy": correct / seen, "images_per_s": seen * world / seconds}


def validate(state: RunState, td: TrainingData, precision: str, tta: str | None, rank: int, world: int) -> dict:
    """Metrics on the validation faces; under DDP each rank scores a shard and the counts are summed."""
    shard = np.arange(rank, len(td.val_y), world)
    model = scored_model(state)
    probs = predict_probs(model, td.val.images[shard], precision=precision, tta=tta)
    y = td.val_y[shard]
    device = next(model.parameters()).device  # NCCL reduces tensors on the GPU
    cm = torch.from_numpy(confusion_matrix(y, probs.argmax(1), len(td.labels))).to(device)
    nll = torch.tensor([-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-8)).sum()], dtype=torch.float64)
    nll = nll.to(device)
    if world > 1:
        dist.all_reduce(cm)
        dist.all_reduce(nll)
    cm, nll = cm.cpu(), nll.cpu()
    metrics = classification_metrics(cm.numpy(), td.labels)
    return {
        "val_loss": float(nll[0]) / max(1, metrics["samples"]),
        "val_accuracy": metrics["accuracy"],
        "val_macro_f1": metrics["macro_f1"],
        "val_balanced_accuracy": metrics["balanced_accuracy"],
    }


def checkpoint_payload(cfg: TrainConfig, model_cfg: ModelConfig, td: TrainingData, state: RunState) -> dict:
    payload = {
        "model_config": model_cfg.to_dict(),
        "labels": td.labels,
        "model": scored_model(state).state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "schedule": state.schedule.state_dict() if state.schedule is not None else None,
        "epoch": state.epoch,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stopped": state.stopped,
        "train_config": asdict(cfg),
    }
    if state.ema is not None:  # resuming needs the weights being trained and the average's age
        payload.update(training_model=unwrap(state.model).state_dict(), ema_updates=int(state.ema.n_averaged))
    return payload


def load_state(path: Path, state: RunState) -> None:
    checkpoint = read_checkpoint(path)
    unwrap(state.model).load_state_dict(checkpoint.get("training_model", checkpoint["model"]))
    if state.ema is not None:
        state.ema.module.load_state_dict(checkpoint["model"])
        state.ema.n_averaged.fill_(checkpoint["ema_updates"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    if state.schedule is not None:
        state.schedule.load_state_dict(checkpoint["schedule"])
    for name in ("epoch", "best_score", "best_epoch", "bad_epochs", "stopped"):
        setattr(state, name, checkpoint[name])


def _log(path: Path, record: dict) -> None:
    """Append one line; a failed write is cut back, so the log never ends in half a line."""
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        os.truncate(path, size)
        raise output_error(path, e) from e


def _truncate_log(path: Path, epochs: int) -> None:
    """On resume, drop log lines of epochs after the last checkpoint (killed between log and save)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["epoch"] <= epochs]
        write_atomic(path, "".join(line + "\n" for line in lines))


def train(cfg: TrainConfig, resume: bool = False, on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train per `cfg` into cfg.out; return the best validation record. Resumes from last.pt.
    A new run that fails before its first checkpoint leaves no run directory behind."""
    out = Path(cfg.out)
    fresh = not out.exists() and int(os.environ.get("RANK", "0")) == 0  # rank 0 makes the directory
    try:
        return run_training(cfg, resume, on_epoch)
    except BaseException:
        if fresh and not (out / "last.pt").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise


def initial_model(cfg: TrainConfig, labels: list[str]) -> tuple[nn.Module, ModelConfig]:
    """A fresh network as configured, or with --init the given trained model (its architecture too, its
    classifier cut to the run's classes)."""
    if cfg.init:
        model, model_cfg = load_starting_model(cfg.init, labels, cfg.image_size, cfg.channels)
        return model.train(), model_cfg
    model_cfg = ModelConfig(cfg.model, len(labels), cfg.channels, cfg.image_size, cfg.width, cfg.dropout)
    model = create_model(model_cfg)
    if cfg.pretrained:
        load_imagenet(model, model_cfg)
    return model, model_cfg


def run_training(cfg: TrainConfig, resume: bool, on_epoch: Callable[[int, dict], None] | None) -> dict:
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    rank, world = _distributed(device)
    out = Path(cfg.out)
    if (out / "last.pt").exists() and not resume:
        raise FileExistsError(f"{out} already holds a run: pass --resume {out} to continue it, or another --out")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(cfg.precision, on_gpu=device.type == "cuda")
    hardware = describe_device(device)
    td = prepare_training_data(cfg)
    torch.manual_seed(cfg.seed)
    model, model_cfg = initial_model(cfg, td.labels)
    if cfg.teachers:
        td.train_targets = distilled_targets(cfg, td, out, resume, device, precision, rank)
    model = model.to(device, memory_format=torch.channels_last)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True) if cfg.ema else None
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = build_optimizer(cfg, model)
    per_rank = len(epoch_order(cfg, td.train_y, 0, rank, world))
    steps = max(1, per_rank // max(1, min(cfg.batch_size // world, per_rank)))
    state = RunState(model, optimizer, build_schedule(cfg, optimizer, steps), ema=ema)
    if resume and (out / "last.pt").exists():
        load_state(out / "last.pt", state)
        if rank == 0:
            _truncate_log(out / "metrics.jsonl", state.epoch)
    elif rank == 0:
        resolved = {**asdict(cfg), "lr": cfg.resolved_lr(), "precision": precision}
        resolved.update(model=model_cfg.name, width=model_cfg.width, dropout=model_cfg.dropout)
        resolved["run"] = {
            "world_size": world,
            "labels": td.labels,
            "parameters": count_parameters(model),
            "torch": torch.__version__,
            "device": hardware,
        }
        write_atomic(out / "config.json", json.dumps(resolved, indent=2))
        write_atomic(out / "data_report.json", json.dumps(td.report, indent=2))
        print(f"train {dict(td.report['train_counts'])}; val {dict(td.report['val_counts'])}")
        print(f"data quality: {quality_summary(td.report['quality'])}")
        for warning in td.report["quality"]["warnings"]:
            print(f"WARNING: {warning}", file=sys.stderr)
    power = WEIGHT_POWERS.get(cfg.balance)
    weights = class_weights(td.train_y, len(td.labels), power) if power else None
    loss_weights = torch.from_numpy(weights).to(device) if weights is not None else None
    run_start = time.perf_counter()
    epochs_at_start = state.epoch
    while state.epoch < cfg.epochs and not state.stopped:
        epoch_start = time.perf_counter()
        record = train_one_epoch(cfg, state, td, precision, rank, world, loss_weights, steps, device)
        record.update(validate(state, td, precision, cfg.eval_tta, rank, world))
        state.epoch += 1
        score = record[f"val_{cfg.select}"]
        if cfg.schedule == "plateau":
            state.schedule.step(score)
        improved = score > state.best_score
        if improved:
            state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
        else:
            state.bad_epochs += 1
        state.stopped = bool(cfg.patience) and state.bad_epochs >= cfg.patience
        record.update(epoch=state.epoch, lr=optimizer.param_groups[0]["lr"], seconds=time.perf_counter() - epoch_start)
        record["device"] = hardware  # per epoch: a resumed run may continue on other hardware
        if rank == 0:
            payload = checkpoint_payload(cfg, model_cfg, td, state)
            if improved:
                save_atomic({**payload, "metrics": record}, out / "best.pt")
            save_atomic(payload, out / "last.pt")
            _log(out / "metrics.jsonl", record)
            done = state.epoch - epochs_at_start
            eta = (time.perf_counter() - run_start) / done * (cfg.epochs - state.epoch)
            print(
                f"epoch {state.epoch}/{cfg.epochs} loss {record['train_loss']:.3f} "
                f"val_acc {record['val_accuracy']:.4f} val_f1 {record['val_macro_f1']:.4f} "
                f"{record['images_per_s']:.0f} img/s, ETA {eta / 60:.1f} min"
                + (" (best)" if improved else "")
                + (" - early stop" if state.stopped else ""),
                flush=True,
            )
        if on_epoch is not None:
            on_epoch(state.epoch, record)
    if world > 1:
        dist.barrier()
    return {"best_epoch": state.best_epoch, f"best_{cfg.select}": state.best_score, "epochs": state.epoch}
