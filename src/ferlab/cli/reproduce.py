"""`ferlab reproduce`: every experiment and figure of the study, and its report."""

from __future__ import annotations

from pathlib import Path

from ferlab.cli.common import HELP_DATA, parse_sets
from ferlab.paths import default_data


def add_parser(sub) -> None:
    rp = sub.add_parser("reproduce", help="run the study's experiments and write the report with its figures")
    rp.add_argument("--data", default=default_data(), help=HELP_DATA)
    rp.add_argument(
        "--budget",
        default="smoke",
        choices=["smoke", "cpu", "full"],
        help="smoke: minutes, tiny subsets; cpu: hours on 2 cores; full: the study's schedule, GPU",
    )
    rp.add_argument("--out", help="output folder (default: runs/reproduce-BUDGET)")
    rp.add_argument("--backbone", help="pretrained backbone: hub name or local folder (default: the configs')")
    rp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value for every experiment, after the budget's (e.g. train.budget_minutes=1)",
    )
    rp.add_argument("--limit-eval", type=int, help="evaluate on a class-stratified subset of N images")
    rp.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    rp.set_defaults(func=run)


def run(args) -> int:
    from ferlab.reproduce import reproduce

    report = reproduce(
        args.data,
        args.budget,
        Path(args.out or f"runs/reproduce-{args.budget}"),
        backbone=args.backbone,
        progress=not args.no_progress,
        overrides=parse_sets(args.set) or None,
        limit_eval=args.limit_eval,
    )
    print(f"report: {report}")
    return 0
