"""The run directory's format, in one place (torch-free: reports and `compare` read runs too).

    RUN/config.yaml          the resolved config (what `--resume` continues)
    RUN/metrics.csv          one row per finished epoch
    RUN/summary.json         the run so far: epochs, best and last rows, speed, machine
    RUN/best/, RUN/last/     checkpoints (ferlab.checkpoint), each with its card
    RUN/loss_curves.png      the curves, redrawn as epochs finish
    RUN/checkpoints/last.ckpt  Lightning's resumable state

Every file is written atomically by whoever makes it; this module says where each lives and
reads them back with one-line errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from ferlab.errors import FerlabError
from ferlab.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __init__(self, path: str | os.PathLike) -> None:
        object.__setattr__(self, "path", Path(path))

    @classmethod
    def new(cls, name: str, root: str | os.PathLike = "runs") -> RunDir:
        """A fresh directory name under root: NAME-YYYYmmdd-HHMMSS (with -2, -3… if taken)."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        d, n = Path(root) / f"{name}-{stamp}", 1
        while d.exists():
            n += 1
            d = Path(root) / f"{name}-{stamp}-{n}"
        return cls(d)

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    # ----------------------------------------------------------------------------- where

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def best(self) -> Path:
        return self.path / "best"

    @property
    def last(self) -> Path:
        return self.path / "last"

    @property
    def loss_curves(self) -> Path:
        return self.path / "loss_curves.png"

    @property
    def resume_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.ckpt"

    # ----------------------------------------------------------------------------- read

    def config(self) -> dict:
        if not self.config_file.is_file():
            raise FerlabError(f"{self.path}: not a ferlab run directory (no config.yaml)")
        try:
            cfg = yaml.safe_load(self.config_file.read_text())
        except yaml.YAMLError as e:
            raise FerlabError(f"{self.config_file}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(cfg, dict):
            raise FerlabError(f"{self.config_file}: not a ferlab config (a mapping of sections)")
        return cfg

    def summary(self) -> dict | None:
        """summary.json, or None before the first epoch has finished."""
        if not self.summary_file.is_file():
            return None
        try:
            s = json.loads(self.summary_file.read_text())
        except ValueError as e:
            raise FerlabError(f"{self.summary_file}: not valid JSON ({e})") from None
        if not isinstance(s, dict) or not {"epochs_completed", "epochs_planned"} <= s.keys():
            raise FerlabError(f"{self.summary_file}: not a ferlab run summary (no epochs_completed/epochs_planned)")
        return s

    def finished(self) -> bool:
        s = self.summary()
        return s is not None and s["epochs_completed"] >= s["epochs_planned"]

    def resumable(self) -> bool:
        return self.resume_checkpoint.exists()

    @property
    def name(self) -> str:
        """The run's name as its summary gives it, else the folder's."""
        s = self.summary()
        return s.get("name", self.path.name) if s else self.path.name

    def metrics(self) -> list[dict]:
        """metrics.csv as rows of numbers (epoch an int; empty cells None); [] before the first epoch."""
        if not self.metrics_file.exists():
            return []
        return read_metrics(self.metrics_file)

    # ----------------------------------------------------------------------------- write

    def write_config(self, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_file, text)

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self.summary_file, summary)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {
            k: (float(v) if v not in ("", None) and k != "epoch" else (int(v) if k == "epoch" else None))
            for k, v in r.items()
        }
        for r in rows
    ]
