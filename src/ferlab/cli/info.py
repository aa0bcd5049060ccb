"""`ferlab info`: a model's card, readable (or as JSON)."""

from __future__ import annotations

from ferlab.cli.common import add_model_arg, print_json


def add_parser(sub) -> None:
    i = sub.add_parser("info", help="show a model's card (default: the bundled default model)")
    add_model_arg(i)
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=run)


def run(args) -> int:
    from ferlab.card import read_card
    from ferlab.catalogue import describe_card

    card = read_card(args.model)
    if args.json:
        print_json(card)
        return 0
    print(describe_card(card))
    return 0
