"""Every figure of the study, drawn from saved numbers (metrics CSVs, evaluation JSON), never
from a live run — so any figure can be redrawn later without retraining."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; works on machines with no display
import matplotlib.pyplot as plt
import numpy as np

from ferlab.labels import CLASSES, CLASSES_8, COLOURS, DISPLAY, classes_for


def _save(fig, out: str | os.PathLike, fmt: str | None = None):
    """Save and close; returns the figure, so tests can check what was drawn (overlaps, colours)."""
    fig.tight_layout()
    fig.savefig(out, dpi=130, format=fmt)
    plt.close(fig)
    return fig


def save_figure(fig, out: str | os.PathLike) -> None:
    """Save atomically, the format taken from the final name's suffix."""
    from pathlib import Path

    from ferlab.io import atomic_write

    atomic_write(out, lambda tmp: _save(fig, tmp, Path(out).suffix.lstrip(".") or "png"))


def plot_class_distribution(
    counts: Mapping[str, Mapping[str, int]],
    out: str | os.PathLike,
    title: str = "FER-2013 class frequency",
    fmt: str | None = None,
):
    """Figure 1: images per class, one bar group per split. Bars take their class's colour; the
    split is told by the hatching, which is what the legend shows (in neutral swatches)."""
    from matplotlib.patches import Patch

    splits = [s for s in counts if sum(counts[s].values())]
    hatches = ["", "///", "...", "xx"]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(1, len(splits))
    x = np.arange(len(CLASSES))
    for i, s in enumerate(splits):
        vals = [counts[s].get(c, 0) for c in CLASSES]
        bars = ax.bar(
            x + (i - (len(splits) - 1) / 2) * width,
            vals,
            width,
            color=[COLOURS[c] for c in CLASSES],
            hatch=hatches[i % len(hatches)],
            edgecolor="black",
            linewidth=0.4,
        )
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(x, [DISPLAY[c] for c in CLASSES])
    ax.set_ylabel("images")
    ax.set_title(title)
    if len(splits) > 1:
        handles = [
            Patch(facecolor="white", edgecolor="black", hatch=hatches[i % len(hatches)], label=s)
            for i, s in enumerate(splits)
        ]
        ax.legend(handles=handles, title="split")
    return _save(fig, out, fmt)


def plot_loss_curves(
    runs: Mapping[str, Sequence[Mapping]],
    out: str | os.PathLike,
    title: str | None = None,
    fmt: str | None = None,
) -> None:
    """Figure 3 / 4 / 5: train and val loss per epoch, one panel per run, side by side."""
    n = len(runs)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.6), squeeze=False)
    for ax, (name, rows) in zip(axes[0], runs.items(), strict=True):
        ep = [r["epoch"] for r in rows]
        ax.plot(ep, [r["train_loss"] for r in rows], "o-", label="train loss", color="#1f77b4")
        val = [r.get("val_loss") for r in rows]
        if any(v is not None for v in val):
            ax.plot(ep, val, "s-", label="val loss", color="#d62728")
        accs = [r.get("val_acc") for r in rows]
        if any(a is not None for a in accs):
            best = int(np.nanargmax([a if a is not None else np.nan for a in accs]))
            ax.axvline(ep[best], color="grey", ls=":", lw=1)
            # y in axes fractions: the label stays inside the panel whatever the loss range
            ax.text(
                ep[best],
                0.97,
                f"best val acc {accs[best]:.3f} ",
                transform=ax.get_xaxis_transform(),
                fontsize=8,
                ha="right",
                va="top",
                rotation=90,
                color="grey",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out, fmt)


def plot_confusion(
    confusion: Sequence[Sequence[int]],
    out: str | os.PathLike,
    title: str = "Confusion matrix",
    fmt: str | None = None,
) -> None:
    """Figure 6: row-normalised confusion matrix, with counts in each cell."""
    cm = np.asarray(confusion, dtype=float)
    classes = classes_for(len(cm))  # FER-2013's 7, or FER+'s 8 with contempt
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    names = [DISPLAY[c] for c in classes]
    ax.set_xticks(range(len(classes)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    return _save(fig, out, fmt)


def plot_per_class(
    models: Mapping[str, Mapping[str, float]],
    out: str | os.PathLike,
    title: str = "Per-class accuracy",
    fmt: str | None = None,
):
    """Figure 8: per-class accuracy of several models, bars side by side, each bar's value written
    upright above it (side by side they would run into each other), legend below the plot."""
    n = len(models)
    fig, ax = plt.subplots(figsize=(max(9, 1.6 * n + 4), 4.8))
    width = 0.8 / max(1, n)
    classes = CLASSES_8 if any("contempt" in pc for pc in models.values()) else CLASSES
    x = np.arange(len(classes))
    cmap = plt.get_cmap("tab10")
    for i, (name, per_class) in enumerate(models.items()):
        vals = [per_class.get(c, 0.0) for c in classes]
        bars = ax.bar(x + (i - (n - 1) / 2) * width, vals, width, label=name, color=cmap(i % 10))
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=2, rotation=90)
    ax.set_xticks(x, [DISPLAY[c] for c in classes])
    ax.set_ylim(0, 1.18)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("accuracy (recall) per class")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(n, 5), frameon=False)
    return _save(fig, out, fmt)


def plot_reliability(
    curves: Mapping[str, Sequence[Mapping]], out: str | os.PathLike, title: str = "Reliability", fmt: str | None = None
):
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per
    curve (e.g. before and after temperature scaling); the diagonal is perfect calibration.
    Each curve: rows of {"confidence", "accuracy", "n"} (ferlab.evaluation.calibration.reliability)."""
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    for (name, rows), marker in zip(curves.items(), "os^v", strict=False):
        conf = [r["confidence"] for r in rows]
        acc = [r["accuracy"] for r in rows]
        biggest = max([1, *(q["n"] for q in rows)])
        sizes = [max(8, 120 * r["n"] / biggest) for r in rows]
        (line,) = ax.plot(conf, acc, "-", lw=1.2, label=name)
        ax.scatter(conf, acc, s=sizes, marker=marker, alpha=0.7, color=line.get_color())
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, out, fmt)
