"""`ferlab curves`: train/val loss curves of runs side by side (study Figures 3-5)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    lc = sub.add_parser("curves", help="train/val loss curves of runs side by side (study Figures 3-5)")
    lc.add_argument("runs", nargs="+", help="run directories")
    lc.add_argument("--out", required=True, help="figure file (.png)")
    lc.add_argument("--title", help="figure title")
    lc.set_defaults(func=run)


def run(args) -> int:
    from ferlab.figures import plot_loss_curves
    from ferlab.io import atomic_write
    from ferlab.training.callbacks import read_run_curves

    runs = read_run_curves(args.runs)
    atomic_write(
        args.out, lambda tmp: plot_loss_curves(runs, tmp, args.title, fmt=Path(args.out).suffix.lstrip(".") or "png")
    )
    print(f"loss curves of {len(runs)} run(s): {args.out}")
    return 0
