"""`ferlab data summary`: counts per split and class, duplicates and defects of a FER-2013 copy."""

from __future__ import annotations

from pathlib import Path

from ferlab.cli.common import add_labels_args, print_json


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="inspect FER-2013 copies").add_subparsers(dest="data_command", required=True)
    s = d.add_parser("summary", help="counts per split and class, duplicates, defects")
    s.add_argument("path", help="Kaggle folder or .zip, fer2013.csv, or a FERPlus layout (folder or .zip)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--plot", metavar="FILE", help="write the class-distribution figure (study Figure 1)")
    s.add_argument("--strict", action="store_true", help="unreadable images are errors, not skipped")
    add_labels_args(s)
    s.set_defaults(func=run)


def run(args) -> int:
    from ferlab.data import load_fer2013
    from ferlab.data.summary import format_summary, summarize

    s = summarize(load_fer2013(args.path, strict=args.strict, labels=args.labels, votes=args.votes))
    if args.plot:
        from ferlab.figures import plot_class_distribution
        from ferlab.io import atomic_write

        atomic_write(
            args.plot,
            lambda tmp: plot_class_distribution(s["splits"], tmp, fmt=Path(args.plot).suffix.lstrip(".") or "png"),
        )
    if args.json:
        print_json(s)
    else:
        print(format_summary(s))
        if args.plot:
            print(f"  class distribution figure: {args.plot}")
    return 0
