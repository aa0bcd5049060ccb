"""Experiment configs: YAML files (the study's ship in `ferlab/configs/`) merged over typed
defaults, with overrides from the command line.

Each section is a dataclass — its fields are the keys a config may set, their types and defaults
— and a loaded config is checked against them once, on load: a wrong type, an unknown key, an
unknown optimizer is one line naming the key, never a traceback from deep in training. Consumers
read the result as a plain dict (what a run saves as config.yaml).

Overrides are dotted keys (`train.lr`, `model.config.image_size`); `UNSET` means "not given" and
leaves the value alone, while `None` sets it to null — so callers such as `ferlab reproduce` pass
their overrides straight through `load_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ferlab.data.ferplus import LABEL_MODES
from ferlab.errors import FerlabError
from ferlab.paths import default_data

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("none", "cosine", "plateau")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()  # an override that was not given


def _at_least(n: float) -> dict:
    return {"min": n}


@dataclass
class ModelSection:
    architecture: str = "cnn-v2.1"
    config: dict = field(default_factory=dict)  # the architecture's own options (free-form)


@dataclass
class DataSection:
    # a config that names no data reads $FERLAB_DATA (train, sweep and reproduce alike), else the shared copy
    path: str = field(default_factory=default_data)
    balanced: bool = True  # the study's inverse-frequency resampling
    class_weighted_loss: bool = False  # the alternative: plain sampling, weighted loss
    limit_train: int | None = field(default=None, metadata=_at_least(1))  # class-stratified subsets
    limit_val: int | None = field(default=None, metadata=_at_least(1))
    strict: bool = False
    on_device: bool = False  # keep the training set on the training device; batches drawn there
    # original (FER-2013's one annotator), ferplus-majority or ferplus-soft (train on the 10 FER+ votes'
    # distribution; val keeps the majority protocol), or their 8-class forms with contempt
    # (ferplus-majority8, ferplus-soft8): ferlab.data.ferplus; null = the source's own
    labels: str | None = field(default=None, metadata={"choices": LABEL_MODES})
    ferplus_votes: str | None = None  # a fer2013new.csv instead of the copy ferlab ships


# The free-form train.freeze and train.distill mappings' own defaults, filled in on load (so a run's
# saved config.yaml says what it ran with, and no consumer repeats them).
FREEZE_DEFAULTS = {"start": 0, "schedule": None, "plateau_patience": None, "step": 2}
DISTILL_DEFAULTS = {"alpha": 0.5, "temperature": 2.0, "offline": False}


@dataclass
class TrainSection:
    epochs: int = field(default=10, metadata=_at_least(1))
    batch_size: int = field(default=128, metadata=_at_least(1))
    optimizer: str = field(default="adamw", metadata={"choices": OPTIMIZERS})
    lr: float = field(default=1e-3, metadata=_at_least(0.0))
    weight_decay: float = field(default=1e-4, metadata=_at_least(0.0))
    momentum: float = field(default=0.9, metadata=_at_least(0.0))
    scheduler: str = field(default="none", metadata={"choices": SCHEDULERS})
    warmup_epochs: int = field(default=0, metadata=_at_least(0))
    label_smoothing: float = field(default=0.0, metadata=_at_least(0.0))
    mixup: float = field(default=0.0, metadata=_at_least(0.0))  # Beta(a, a) mixing weight per batch; 0 = off
    augment: dict = field(default_factory=dict)  # ferlab.data.augment.AugmentConfig's fields
    seed: int = 0
    channels_last: bool = True
    max_minutes: float | None = field(default=None, metadata=_at_least(0.0))
    # wall-clock budget: `epochs` becomes a cap, the real count is fixed after 2 epochs from
    # their measured time and written back to the run's config.yaml (so a rerun repeats it)
    budget_minutes: float | None = field(default=None, metadata=_at_least(0.0))
    budget_resolved: dict | None = None  # what the budget became: minutes, measured s/epoch, the cap
    precision: str = "32-true"  # Lightning precision; "bf16-mixed" on GPUs
    deterministic: bool = True  # false lets cuDNN pick the fastest (non-reproducible) kernels
    threads: int | None = field(default=None, metadata=_at_least(1))
    backbone_lr: float | None = field(default=None, metadata=_at_least(0.0))  # pretrained backbones' own lr
    # pretrained backbones: train only the last `start` blocks, unfreezing more by `schedule`
    # ({epoch: blocks}) or by `plateau_patience` (+`step` blocks when val loss stalls); null = all train
    freeze: dict | None = None
    # with freeze: compute the frozen bottom blocks once, cache on disk, train the top only
    feature_cache: bool = False
    # knowledge distillation: {teachers: [checkpoint, run dir or bundled name, ...], alpha, temperature,
    # offline}; the loss mixes (1 - alpha) × the label loss with alpha × T² × KL to the teachers' mean
    # softened output — on each augmented batch, or (offline: true) once per clean image, cached
    distill: dict | None = None
    # start from these weights (checkpoint, run dir or bundled name of the same architecture
    # and config) instead of a random init: fine-tuning, or continuing a finished schedule
    init_from: str | None = None


@dataclass
class NormalizeSection:
    mean: float = 0.5
    std: float = field(default=0.25, metadata=_at_least(0.0))


@dataclass
class Config:
    name: str = "run"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    normalize: NormalizeSection = field(default_factory=NormalizeSection)


DEFAULTS: dict = asdict(Config())
# "" is the top level (the name); the others are the sections, each with its dataclass
SECTIONS: dict[str, type] = {
    "": Config,
    "model": ModelSection,
    "data": DataSection,
    "train": TrainSection,
    "normalize": NormalizeSection,
}
HINTS = {sec: typing.get_type_hints(cls) for sec, cls in SECTIONS.items()}
# settings that are mappings of their own (an architecture's options, augmentation, freezing…)
FREE_FORM = tuple(
    k for sec, hints in HINTS.items() if sec for k, t in hints.items() if dict in (typing.get_args(t) or (t,))
)

_KIND = {int: "a whole number", float: "a number", bool: "true or false", str: "a string", dict: "a mapping"}


def _coerce(key: str, value, typ, where: str):
    """value → the field's type, or a one-line error naming the key and the type expected."""
    args = typing.get_args(typ)
    optional = isinstance(typ, types.UnionType) and type(None) in args
    base = next((a for a in args if a is not type(None)), typ) if optional else typ
    if value is None:
        if optional:
            return None
        raise FerlabError(f"{where}: {key} must be {_KIND[base]}, got null")
    bad = FerlabError(f"{where}: {key} must be {_KIND[base]}, got {value!r}"[:300])
    if base is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if base is dict:
        if not isinstance(value, dict):
            raise bad
        return value
    if base is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
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
    if base is int:
        if float(value) != int(value):
            raise bad
        return int(value)
    return float(value)


def validate_config(cfg: dict, where: str = "config") -> dict:
    """Check every setting against the section dataclasses (and normalise, e.g. "1e-3" → 0.001)
    in place; returns cfg."""
    for sec, cls in SECTIONS.items():
        node = cfg if not sec else cfg[sec]
        for f in dataclasses.fields(cls):
            if sec == "" and f.name in SECTIONS:
                continue
            key = f"{sec}.{f.name}" if sec else f.name
            if f.name not in node:
                continue
            value = _coerce(key, node[f.name], HINTS[sec][f.name], where)
            least, choices = f.metadata.get("min"), f.metadata.get("choices")
            if value is not None and least is not None and value < least:
                raise FerlabError(f"{where}: {key} must be at least {least}, got {value}")
            if value is not None and choices and value not in choices:
                raise FerlabError(f"{where}: unknown {key} {value!r} (use {', '.join(choices)})")
            node[f.name] = value
    from ferlab.data.augment import AugmentConfig

    known = [f.name for f in dataclasses.fields(AugmentConfig)]
    unknown = sorted(set(cfg["train"].get("augment") or {}) - set(known))
    if unknown:
        raise FerlabError(f"{where}: train.augment: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    t = cfg["train"]
    for key, defaults in (("freeze", FREEZE_DEFAULTS), ("distill", DISTILL_DEFAULTS)):
        if isinstance(t.get(key), dict):
            t[key] = {**defaults, **t[key]}
    return cfg


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


# The study's experiment configs, shipped inside the package (configs/ at the top of the repository
# links here): `ferlab train --config cnn_v1` finds one by name after a pip install.
SHIPPED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def find_config(ref: str | os.PathLike) -> Path:
    """A config file: a path, or the name of a shipped config (`cnn_v1`, `cnn_v1.yaml`)."""
    p = Path(ref)
    if p.is_file():
        return p
    if p.parent == Path("."):
        shipped = SHIPPED_CONFIGS / (p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml")
        if shipped.is_file():
            return shipped
    names = ", ".join(sorted(c.stem for c in SHIPPED_CONFIGS.glob("*.yaml")))
    raise FerlabError(f"{p}: config file not found; the shipped configs, by name: {names}")


def load_config(path: str | os.PathLike | None, overrides: dict | None = None) -> dict:
    """Defaults ← the YAML file at `path` ← `overrides` ({"train.lr": 0.01, ...}; UNSET values are
    skipped, None sets null), checked; returns the config as a dict."""
    cfg = copy.deepcopy(DEFAULTS)
    cfg["data"]["path"] = default_data()  # $FERLAB_DATA as it is now, not as it was at import
    if path is not None:
        p = find_config(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise FerlabError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise FerlabError(f"{p}: a config must be a YAML mapping")
        cfg = _merge(cfg, data, str(p))
        if "name" not in data:
            cfg["name"] = p.stem
    for dotted, value in (overrides or {}).items():
        if value is UNSET:
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


# The command-line flags that set config keys, written once for `ferlab train` and `ferlab sweep`.
FLAG_KEYS = {
    "epochs": "train.epochs",
    "lr": "train.lr",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "max_minutes": "train.max_minutes",
    "budget_minutes": "train.budget_minutes",
    "precision": "train.precision",
    "threads": "train.threads",
    "data": "data.path",
    "limit_train": "data.limit_train",
    "limit_val": "data.limit_val",
    "on_device": "data.on_device",
    "labels": "data.labels",
    "name": "name",
}


def overrides_from_flags(args) -> dict:
    """The config overrides an argparse namespace gives: flags left at None are UNSET."""
    return {key: v for flag, key in FLAG_KEYS.items() if (v := getattr(args, flag, None)) is not None}


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


def cached_block(freeze: dict, depth: int) -> int:
    """With a freeze setting, the first block that ever trains: blocks below it can be cached."""
    most = max([int(freeze["start"]), *(int(v) for v in (freeze["schedule"] or {}).values())])
    return depth - min(most, depth)
