"""Pictures and an HTML page for an evaluation: confusion matrices, per-class bars, curves, mistakes."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from moodlens.runtime.files import write_atomic


def plot_confusion(cm: np.ndarray, labels: list[str], path: Path) -> None:
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, values, title, fmt in (
        (axes[0], cm, "counts", "d"),
        (axes[1], normalised, "row-normalised (recall)", ".2f"),
    ):
        ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(values):
            ax.text(
                j,
                i,
                format(value, fmt),
                ha="center",
                va="center",
                color="white" if normalised[i, j] > 0.5 else "black",
                fontsize=8,
            )
        ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true", title=title)
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_yticklabels(labels)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


def plot_per_class(per_class: dict, path: Path) -> None:
    labels = list(per_class)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 1.1), 4))
    for offset, metric in zip((-0.27, 0, 0.27), ("precision", "recall", "f1"), strict=True):
        ax.bar(x + offset, [per_class[label][metric] for label in labels], width=0.27, label=metric)
    ax.set(xticks=x, ylim=(0, 1), ylabel="score", title="per-class precision, recall and F1")
    ax.set_xticklabels([f"{label}\n(n={per_class[label]['support']})" for label in labels])
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


def plot_curves(records: list[dict], path: Path) -> None:
    epochs = [r["epoch"] for r in records]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    loss_ax.plot(epochs, [r["train_loss"] for r in records], label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in records], label="validation")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.plot(epochs, [r["train_accuracy"] for r in records], label="train")
    acc_ax.plot(epochs, [r["val_accuracy"] for r in records], label="validation accuracy")
    acc_ax.plot(epochs, [r["val_macro_f1"] for r in records], label="validation macro F1")
    acc_ax.set(xlabel="epoch", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


def plot_mistakes(
    images: np.ndarray, true: np.ndarray, probs: np.ndarray, labels: list[str], path: Path, count: int = 24
) -> int:
    """The faces the model got wrong with the highest confidence. Returns how many were drawn."""
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != true)
    worst = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:count]
    if not len(worst):
        return 0
    columns = 8
    rows = int(np.ceil(len(worst) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, worst, strict=False):
        face = images[i]
        ax.imshow(face.squeeze(-1) if face.shape[-1] == 1 else face, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{labels[true[i]]}\n→ {labels[predicted[i]]} {probs[i, predicted[i]]:.2f}", fontsize=8)
    fig.suptitle("most confident mistakes (true → predicted, probability)", fontsize=10)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
    return len(worst)


def _table(metrics: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for label, m in metrics["per_class"].items()
    )
    return f"<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>"


def write_html(out: Path, metrics: dict, figures: list[tuple[str, str]]) -> Path:
    """report.html beside metrics.json, showing the headline numbers, the table and the figures."""
    headline = (
        f"accuracy <b>{metrics['accuracy']:.4f}</b> · balanced accuracy <b>{metrics['balanced_accuracy']:.4f}</b>"
        f" · macro F1 <b>{metrics['macro_f1']:.4f}</b> · {metrics['samples']} faces"
    )
    notes = {k: metrics[k] for k in ("model", "data", "tta", "left_out", "skipped_count") if k in metrics}
    images = "".join(
        f"<h2>{html.escape(title)}</h2><img src='{html.escape(name)}' alt='{html.escape(title)}'>"
        for title, name in figures
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>moodlens evaluation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
img{{max-width:100%}}pre{{background:#f5f5f5;padding:1em;overflow:auto}}</style></head>
<body><h1>moodlens evaluation</h1><p>{headline}</p>{_table(metrics)}
<pre>{html.escape(json.dumps(notes, indent=2))}</pre>{images}</body></html>
"""
    path = out / "report.html"
    write_atomic(path, page)
    return path
