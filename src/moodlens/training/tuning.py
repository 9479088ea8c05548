"""`moodlens tune`: hyper-parameter search with Optuna, pruning trials that fall behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import optuna

from moodlens.runtime.files import write_atomic
from moodlens.training.config import TrainConfig
from moodlens.training.loop import train
from moodlens.training.models import MODELS


def suggest(trial: optuna.Trial, base: TrainConfig, out: Path) -> TrainConfig:
    """One point of the search space: width, dropout, learning rate, weight decay, augmentation."""
    default_width = MODELS[base.model][1]
    lr_range = (0.01, 0.3) if base.optimizer == "sgd" else (3e-4, 1e-2)
    return replace(
        base,
        out=str(out / f"trial-{trial.number:03d}"),
        width=trial.suggest_categorical("width", [default_width // 2, default_width, default_width * 3 // 2]),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        lr=trial.suggest_float("lr", *lr_range, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 1e-2, log=True),
        augment=trial.suggest_float("augment", 0.0, 1.5),
    )


def tune(base: TrainConfig, trials: int, out: str) -> dict:
    """Run `trials` trials (continuing a study already in `out`); write best.json and search.png."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name="moodlens",
        storage=f"sqlite:///{out_dir / 'study.db'}",
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )

    def objective(trial: optuna.Trial) -> float:
        cfg = suggest(trial, base, out_dir)

        def report(epoch: int, record: dict) -> None:
            trial.report(record[f"val_{cfg.select}"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return train(cfg, resume=Path(cfg.out, "last.pt").exists(), on_epoch=report)[f"best_{cfg.select}"]

    study.optimize(objective, n_trials=trials)
    best = study.best_trial
    summary = {
        "metric": f"val_{base.select}",
        "best_value": best.value,
        "best_params": best.params,
        "best_run": str(out_dir / f"trial-{best.number:03d}"),
        "trials": [
            {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params} for t in study.trials
        ],
    }
    write_atomic(out_dir / "best.json", json.dumps(summary, indent=2))
    plot_search(study, out_dir / "search.png")
    return summary


def plot_search(study: optuna.Study, path: Path) -> None:
    """Each trial's last reported score over trial number, and against the learning rate."""
    fig, (by_number, by_lr) = plt.subplots(1, 2, figsize=(11, 4))
    for state, colour in ((optuna.trial.TrialState.COMPLETE, "tab:blue"), (optuna.trial.TrialState.PRUNED, "tab:red")):
        shown = [t for t in study.trials if t.state == state and t.intermediate_values]
        scores = [t.value if t.value is not None else list(t.intermediate_values.values())[-1] for t in shown]
        by_number.scatter([t.number for t in shown], scores, c=colour, label=state.name.lower())
        by_lr.scatter([t.params["lr"] for t in shown], scores, c=colour, label=state.name.lower())
    by_number.set(xlabel="trial", ylabel="validation score", title="search progress")
    by_lr.set(xlabel="learning rate", xscale="log", title="score by learning rate")
    for ax in (by_number, by_lr):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
