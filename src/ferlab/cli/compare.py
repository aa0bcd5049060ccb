"""`ferlab compare`: per-class accuracy of several models side by side (study Figure 8)."""

from __future__ import annotations

from pathlib import Path

from ferlab.paths import default_data
from ferlab.tta import TTA_MODES


def add_parser(sub) -> None:
    c = sub.add_parser("compare", help="per-class accuracy of several models side by side")
    c.add_argument("inputs", nargs="+", help="evaluation JSON files, run dirs or checkpoints")
    c.add_argument("--out", required=True, help="folder for the figure and the Markdown table")
    c.add_argument("--data", default=default_data(), help="data for inputs that need evaluating")
    c.add_argument("--split", default="val", help="split to evaluate inputs that need evaluating")
    c.add_argument(
        "--tta",
        nargs="?",
        const="flip",
        default="card",
        choices=[*TTA_MODES, "card"],
        metavar="MODE",
        help="test-time augmentation for inputs that need evaluating: card (default: each model as it ships), "
        + ", ".join(TTA_MODES),
    )
    c.set_defaults(func=run)


def run(args) -> int:
    from ferlab.evaluation.compare import compare

    tta = None if args.tta == "card" else args.tta
    out = compare(args.inputs, Path(args.out), data=args.data, split=args.split, tta=tta)
    print(out.read_text())
    return 0
