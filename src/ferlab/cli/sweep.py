"""`ferlab sweep`: one run per learning rate, loss curves side by side (study Figure 4)."""

from __future__ import annotations

from pathlib import Path

from ferlab.cli.common import HELP_DATA, at_least_one


def add_parser(sub) -> None:
    sw = sub.add_parser("sweep", help="one run per learning rate, loss curves side by side (study Figure 4)")
    sw.add_argument("--config", required=True, help="YAML config to sweep")
    sw.add_argument("--lr", type=float, nargs="+", required=True, help="learning rates, one run each")
    sw.add_argument("--out", default="runs/sweep", help="folder for the runs and the figure")
    sw.add_argument("--data", help=HELP_DATA)
    sw.add_argument("--epochs", type=at_least_one, help="epochs per run")
    sw.add_argument("--batch-size", type=int, help="batch size")
    sw.add_argument("--seed", type=int, help="random seed")
    sw.add_argument("--limit-train", type=int, help="use a seeded, class-stratified subset of N training images")
    sw.add_argument("--limit-val", type=int, help="use a seeded, class-stratified subset of N validation images")
    sw.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    sw.set_defaults(func=run)


def run(args) -> int:
    from ferlab.training.config import overrides_from_flags
    from ferlab.training.sweep import lr_sweep

    fig = lr_sweep(
        args.config,
        args.lr,
        Path(args.out),
        overrides=overrides_from_flags(args),
        progress=not args.no_progress,
    )
    print(f"learning-rate sweep: {len(args.lr)} run(s) under {args.out}; loss curves: {fig}")
    return 0
