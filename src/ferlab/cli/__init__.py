"""The `ferlab` command: one module per subcommand, each with `add_parser(subparsers)` and
`run(args)` — the flags and the handler side by side, each a thin call into the library. Errors
meant for the user (FerlabError) print one line and exit with their code, never a traceback; a
command whose optional extra is missing says which to install.

argparse rather than Typer: stdlib, starts fast, and gives full control of the exit codes and
one-line errors this CLI promises.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ferlab.errors import FerlabError

# In the order `ferlab --help` lists them.
COMMANDS = (
    "data",
    "models",
    "info",
    "train",
    "evaluate",
    "compare",
    "predict",
    "video",
    "explain",
    "export",
    "sweep",
    "serve",
    "reproduce",
    "ensemble",
    "curves",
    "bundle",
)

# a module of an optional extra → (the extra, what it brings); see pyproject.toml
EXTRAS = {
    **dict.fromkeys(
        ("torch", "lightning", "torchmetrics", "transformers", "matplotlib", "onnx"),
        ("train", "the training stack"),
    ),
    **dict.fromkeys(("fastapi", "uvicorn", "starlette", "multipart", "python_multipart"), ("serve", "the server")),
    "ray": ("ray", "the Ray Data engine"),
    "pyarrow": ("parquet", "Parquet support"),
}


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line that points at --help (instead of the whole
    usage block above the line that matters)."""

    def error(self, message: str):
        message = message.replace("the following arguments are required: data_command", "choose what to do: summary")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="ferlab", description="Facial emotion recognition on FER-2013.")
    p.add_argument("--version", action="version", version=f"ferlab {__import__('ferlab').__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ferlab.cli.{name}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from ferlab.cli.recognition import bare_tta

    argv = sys.argv[1:] if argv is None else list(argv)
    if hasattr(sys.stdout, "reconfigure"):  # a file name that is not UTF-8 is printed with escapes, not a crash
        sys.stdout.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(bare_tta(argv))
    args.argv = argv
    try:
        return args.func(args)
    except FerlabError as e:
        print(f"ferlab: error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:
        extra = EXTRAS.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"ferlab: error: {args.command} needs {e.name}, part of {extra[1]}: pip install 'ferlab[{extra[0]}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("ferlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
