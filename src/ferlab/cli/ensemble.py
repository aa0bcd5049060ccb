"""`ferlab ensemble`: a soft-voting ensemble of trained models, saved as one checkpoint."""

from __future__ import annotations

import shlex

from ferlab.cli.common import HELP_DATA
from ferlab.paths import default_data


def add_parser(sub) -> None:
    en = sub.add_parser("ensemble", help="soft-voting ensemble of trained models, saved as one checkpoint")
    en.add_argument("models", nargs="+", help="checkpoints, run dirs or bundled names")
    en.add_argument("--out", required=True, help="checkpoint folder to write")
    en.add_argument("--fit-weights", action="store_true", help="fit weights on --data's val split")
    en.add_argument("--data", default=default_data(), help=HELP_DATA + " (for --fit-weights)")
    en.add_argument("--name", help="name in the ensemble's card")
    en.set_defaults(func=run)


def run(args) -> int:
    from ferlab.checkpoint import save_checkpoint
    from ferlab.ensembling import build_ensemble

    model, card = build_ensemble(args.models, data=args.data, fit=args.fit_weights)
    if args.name:
        card["name"] = args.name
    card["command"] = shlex.join(["ferlab", *args.argv])
    out = save_checkpoint(model, card, args.out)
    w = ", ".join(
        f"{m['name']} {x:.3f}"
        for m, x in zip(card["arch_config"]["members"], card["arch_config"]["weights"], strict=True)
    )
    print(f"ensemble {card['name']} ({w}): {out}")
    return 0
