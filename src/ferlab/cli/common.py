"""What several commands share: argument types, help texts, JSON printing, the progress bar.
Imports nothing heavy: `ferlab --help` stays fast."""

from __future__ import annotations

import argparse
import json
import math
import sys

from ferlab.data.ferplus import LABEL_MODES
from ferlab.errors import FerlabError
from ferlab.paths import SHARED_DATA

HELP_MODEL = (
    "bundled model name (see `ferlab models`) or a path: checkpoint, checkpoint folder or run dir "
    "(default: the bundled default)"
)
HELP_DATA = (
    "FER-2013: Kaggle folder or .zip, fer2013.csv, or the FERPlus layout (FER2013Train|Valid|Test/ with label.csv) "
    f"(default: $FERLAB_DATA, else {SHARED_DATA})"
)
LABELS_HELP = (
    "labels on a FER-2013 source: original (one annotator), ferplus-majority (FER+ votes, FERPlus's majority "
    "protocol), ferplus-soft (train on the vote distribution), ferplus-majority8 / ferplus-soft8 (the same with "
    "contempt, FER+'s 8 classes); default: original, or ferplus-majority for a FERPlus layout "
    "(FER2013Train|Valid|Test/ with label.csv), the 8-class protocol for an 8-class model. The FER+ votes ship "
    "with ferlab"
)


def add_labels_args(p: argparse.ArgumentParser, *, votes: bool = True) -> None:
    """--labels (which labels a FER-2013 source is read with) and, where data is read, --votes."""
    p.add_argument("--labels", choices=LABEL_MODES, help=LABELS_HELP)
    if votes:
        p.add_argument(
            "--votes", metavar="CSV", help="a FER+ vote file (fer2013new.csv) to use instead of the copy ferlab ships"
        )


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def in_range(kind: type, least: float, most: float, *, name: str, why: str):
    """An argparse type: a `kind` number in [least, most]; `name` says what was expected and
    `why` what the range is, in the one-line error."""

    def parse(value: str):
        try:
            n = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {value!r}") from None
        if not least <= n <= most:
            raise argparse.ArgumentTypeError(f"{why}, got {value}")
        return n

    return parse


probability = in_range(float, 0.0, 1.0, name="a probability", why="must be between 0 and 1")


def whole(least: int):
    """An argparse type: a whole number ≥ least."""
    return in_range(int, least, math.inf, name="a whole number", why=f"must be at least {least}")


at_least_one = whole(1)


def add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help=HELP_MODEL)


def parse_sets(items: list[str]) -> dict:
    """`--set KEY=VALUE` items → {key: YAML value}."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FerlabError(f"--set {item!r}: expected KEY=VALUE, e.g. train.mixup=0.2")
        out[key] = yaml.safe_load(value)
    return out


def progress(*, total: int | None, disabled: bool):
    """A progress bar on stderr counting images, or None."""
    if disabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def say(line: str, bar) -> None:
    """A line on stderr that does not tear the progress bar."""
    if bar is None:
        print(line, file=sys.stderr)
    else:
        bar.write(line, file=sys.stderr)
