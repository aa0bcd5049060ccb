"""Experiment configs: YAML files under configs/, merged over defaults, with CLI overrides."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from ferlab.errors import FerlabError

DEFAULTS: dict = {
    "name": "run",
    "model": {"architecture": "cnn-v2.1", "config": {}},
    "data": {
        "path": "../shared/data/fer2013-no-private.zip",
        "balanced": True,  # the study's inverse-frequency resampling
        "class_weighted_loss": False,  # the alternative: plain sampling, weighted loss
        "limit_train": None,
        "limit_val": None,
        "strict": False,
    },
    "train": {
        "epochs": 10,
        "batch_size": 128,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "momentum": 0.9,
        "scheduler": "none",
        "warmup_epochs": 0,
        "label_smoothing": 0.0,
        "mixup": 0.0,  # Beta(a, a) mixing weight per batch; 0 = off
        "augment": {},
        "seed": 0,
        "channels_last": True,
        "max_minutes": None,
        # wall-clock budget: `epochs` becomes a cap, the real count is fixed after 2 epochs from
        # their measured time and written back to the run's config.yaml (so a rerun repeats it)
        "budget_minutes": None,
        "budget_resolved": None,  # what the budget became: minutes, measured s/epoch, the cap
        "precision": "32-true",  # Lightning precision; "bf16-mixed" on GPUs
        "deterministic": True,  # false lets cuDNN pick the fastest (non-reproducible) kernels
        "threads": None,
        "backbone_lr": None,  # pretrained backbones: a separate, usually smaller, learning rate
        # pretrained backbones: train only the last `start` blocks, unfreezing more by `schedule`
        # ({epoch: blocks}) or by `plateau_patience` (+`step` blocks when val loss stalls); null = all train
        "freeze": None,
        # with freeze: compute the frozen bottom blocks once, cache on disk, train the top only
        "feature_cache": False,
        # knowledge distillation: {teachers: [checkpoint, run dir or bundled name, ...], alpha, temperature,
        # offline}; the loss mixes (1 - alpha) × the label loss with alpha × T² × KL to the teachers' mean
        # softened output — on each augmented batch, or (offline: true) once per clean image, cached
        "distill": None,
        # start from these weights (checkpoint, run dir or bundled name of the same architecture
        # and config) instead of a random init: fine-tuning, or continuing a finished schedule
        "init_from": None,
    },
    "normalize": {"mean": 0.5, "std": 0.25},
}


FREE_FORM = ("config", "augment", "freeze", "distill")  # sections whose keys are not fixed here


def _merge(base: dict, over: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in base:
            raise FerlabError(f"{where}: unknown key {k!r} (known: {', '.join(base)})")
        if isinstance(base[k], dict) and k not in FREE_FORM:
            if not isinstance(v, dict):
                raise FerlabError(f"{where}: {k!r} must be a mapping")
            out[k] = _merge(base[k], v, f"{where}: {k}")
        else:
            out[k] = v
    return out


def load_config(path: str | os.PathLike | None, overrides: dict | None = None) -> dict:
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FerlabError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise FerlabError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise FerlabError(f"{p}: a config must be a YAML mapping")
        cfg = _merge(cfg, data, str(p))
        cfg.setdefault("name", p.stem)
        if "name" not in data:
            cfg["name"] = p.stem
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = cfg
        *parents, leaf = dotted.split(".")
        for k in parents:
            if node.get(k) is None and k in FREE_FORM:
                node[k] = {}  # free-form sections may start empty (freeze defaults to null)
            if not isinstance(node.get(k), dict):
                raise FerlabError(f"setting {dotted}: {k!r} is not a config section")
            node = node[k]
        free_form = parents and parents[-1] in FREE_FORM
        if leaf not in node and not free_form:
            raise FerlabError(f"setting {dotted}: unknown key {leaf!r} (known: {', '.join(node)})")
        node[leaf] = value
    return validate_config(cfg, str(path) if path is not None else "config")


OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("none", "cosine", "plateau")

# What each scalar setting must be: (type, optional, smallest allowed, choices). Checked once, on
# load, so a wrong value is one line naming the key, never a traceback from deep in training.
_NUM, _INT, _BOOL, _STR = "a number", "a whole number", "true or false", "a string"
SCHEMA: dict[str, tuple] = {
    "name": (_STR, False, None, None),
    "model.architecture": (_STR, False, None, None),
    "data.path": (_STR, False, None, None),
    "data.balanced": (_BOOL, False, None, None),
    "data.class_weighted_loss": (_BOOL, False, None, None),
    "data.limit_train": (_INT, True, 1, None),
    "data.limit_val": (_INT, True, 1, None),
    "data.strict": (_BOOL, False, None, None),
    "train.epochs": (_INT, False, 1, None),
    "train.batch_size": (_INT, False, 1, None),
    "train.optimizer": (_STR, False, None, OPTIMIZERS),
    "train.lr": (_NUM, False, 0.0, None),
    "train.weight_decay": (_NUM, False, 0.0, None),
    "train.momentum": (_NUM, False, 0.0, None),
    "train.scheduler": (_STR, False, None, SCHEDULERS),
    "train.warmup_epochs": (_INT, False, 0, None),
    "train.label_smoothing": (_NUM, False, 0.0, None),
    "train.mixup": (_NUM, False, 0.0, None),
    "train.seed": (_INT, False, None, None),
    "train.channels_last": (_BOOL, False, None, None),
    "train.max_minutes": (_NUM, True, 0.0, None),
    "train.budget_minutes": (_NUM, True, 0.0, None),
    "train.precision": (_STR, False, None, None),
    "train.deterministic": (_BOOL, False, None, None),
    "train.threads": (_INT, True, 1, None),
    "train.backbone_lr": (_NUM, True, 0.0, None),
    "train.feature_cache": (_BOOL, False, None, None),
    "normalize.mean": (_NUM, False, None, None),
    "normalize.std": (_NUM, False, 0.0, None),
}


def _coerce(key: str, value, kind: str, where: str):
    bad = FerlabError(f"{where}: {key} must be {kind}, got {value!r}"[:300])
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == _STR:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise bad
        return str(value)
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string; accept numbers written so
        try:
            value = float(value.strip())
        except ValueError:
            raise bad from None
    if not isinstance(value, int | float):
        raise bad
    if kind == _INT:
        if float(value) != int(value):
            raise bad
        return int(value)
    return float(value)


def validate_config(cfg: dict, where: str = "config") -> dict:
    """Check (and normalise, e.g. "1e-3" → 0.001) every scalar setting in place; returns cfg."""
    for dotted, (kind, optional, least, choices) in SCHEMA.items():
        *parents, leaf = dotted.split(".")
        node = cfg
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            continue
        value = node[leaf]
        if value is None:
            if optional:
                continue
            raise FerlabError(f"{where}: {dotted} must be {kind}, got null")
        value = _coerce(dotted, value, kind, where)
        if least is not None and value < least:
            raise FerlabError(f"{where}: {dotted} must be at least {least}, got {value}")
        if choices and value not in choices:
            raise FerlabError(f"{where}: unknown {dotted} {value!r} (use {', '.join(choices)})")
        node[leaf] = value
    return cfg


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


def cached_block(freeze: dict, depth: int) -> int:
    """With a freeze setting, the first block that ever trains: blocks below it can be cached."""
    most = max([int(freeze.get("start", 0)), *(int(v) for v in (freeze.get("schedule") or {}).values())])
    return depth - min(most, depth)
