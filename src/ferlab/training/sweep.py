"""Run a config several times with different settings, reusing finished runs (resumable)."""

from __future__ import annotations

from pathlib import Path

from ferlab.run_dir import RunDir
from ferlab.training.config import load_config
from ferlab.training.run import train


def run_or_reuse(cfg: dict, run_dir: Path, *, progress: bool = True, command: str = "") -> Path:
    """Train into run_dir unless it already finished; continue it if it was interrupted."""
    run = RunDir(run_dir)
    if run.finished():
        return run.path
    return train(cfg, run, resume=run.resumable(), progress=progress, command=command).path


def lr_sweep(config: str, lrs: list[float], out: Path, *, overrides: dict | None = None, progress: bool = True) -> Path:
    from ferlab.figures import plot_loss_curves
    from ferlab.io import atomic_write

    runs = {}
    for lr in lrs:
        cfg = load_config(config, {**(overrides or {}), "train.lr": lr})
        cfg["name"] = f"{cfg['name']}_lr{lr:g}"
        run_dir = run_or_reuse(
            cfg, out / f"lr_{lr:g}", progress=progress, command=f"ferlab sweep --config {config} --lr {lr:g}"
        )
        runs[f"lr = {lr:g}"] = RunDir(run_dir).metrics()
    fig = out / "fig4_lr_sweep.png"
    atomic_write(fig, lambda tmp: plot_loss_curves(runs, tmp, "Initial learning rate", fmt="png"))
    return fig
