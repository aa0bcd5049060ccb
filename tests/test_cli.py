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


def test_a_usage_error_is_one_line_that_points_at_help(capsys):
    import pytest

    from ferlab.cli import main

    for argv, line in (
        (["data"], "ferlab data: error: choose what to do: summary (see ferlab data --help)"),
        (
            ["predict", "x.jpg", "--max-faces", "0"],
            "ferlab predict: error: argument --max-faces: must be at least 1, got 0 (see ferlab predict --help)",
        ),
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and capsys.readouterr().err == line + "\n"  # no usage block above it


def test_the_ray_engine_without_ray_names_the_ray_extra(monkeypatch, tmp_path, capsys):
    import importlib.util

    from ferlab.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["predict", str(tmp_path), "--engine", "ray", "--out", str(tmp_path / "o.parquet")]) == 2
    assert capsys.readouterr().err == "ferlab: error: --engine ray needs Ray: pip install 'ferlab[ray]'\n"


def test_serve_help_shows_every_default(capsys):
    import pytest

    from ferlab.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--max-upload-mb", "--timeout", "--concurrency", "--queue", "--max-megapixels", "--graceful-timeout"):
        assert flag in out
    assert "(default: 10.0)" in out and "(default: 15.0)" in out and "(default: 24.0)" in out
