"""The command line as a whole: every option explains itself."""

from __future__ import annotations

import argparse

from ferlab.cli import build_parser


def test_every_cli_option_has_help():
    missing = []
    for name, sub in build_parser()._subparsers._group_actions[0].choices.items():
        parsers = [(name, sub)]
        for a in sub._actions:  # `data summary`
            if isinstance(a, argparse._SubParsersAction):
                parsers += [(f"{name} {n}", p) for n, p in a.choices.items()]
        for pname, p in parsers:
            missing += [
                f"{pname} {a.dest}" for a in p._actions if not a.help and not isinstance(a, argparse._SubParsersAction)
            ]
    assert missing == []
