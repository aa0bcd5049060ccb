"""Run a config several times with different settings, reusing finished runs (resumable)."""

from __future__ import annotations

import json
from pathlib import Path

from ferlab.training.config import load_config
from ferlab.training.run import run_training


def run_or_reuse(cfg: dict, run_dir: Path, *, progress: bool = True, command: str = "") -> Path:
    """Train into run_dir unless it already finished; continue it if it was interrupted."""
    summary = run_dir / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        if s["epochs_completed"] >= s["epochs_planned"]:
            return run_dir
    resume = (run_dir / "checkpoints" / "last.ckpt").exists()
    return run_training(cfg, run_dir, resume=resume, progress=progress, command=command)


def lr_sweep(config: str, lrs: list[float], out: Path, *, overrides: dict | None = None, progress: bool = True) -> Path:
    from ferlab.figures import plot_loss_curves
    from ferlab.io import atomic_write
    from ferlab.training.callbacks import read_metrics

    runs = {}
    for lr in lrs:
        cfg = load_config(config, {**(overrides or {}), "train.lr": lr})
        cfg["name"] = f"{cfg['name']}_lr{lr:g}"
        run_dir = run_or_reuse(
            cfg, out / f"lr_{lr:g}", progress=progress, command=f"ferlab sweep --config {config} --lr {lr:g}"
        )
        runs[f"lr = {lr:g}"] = read_metrics(run_dir / "metrics.csv")
    fig = out / "fig4_lr_sweep.png"
    atomic_write(fig, lambda tmp: plot_loss_curves(runs, tmp, "Initial learning rate", fmt="png"))
    return fig
