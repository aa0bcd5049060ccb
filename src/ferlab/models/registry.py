"""The model registry: a new architecture is one decorated factory function.

    @register("cnn-v2.1", "The study's final CNN")
    def cnn_v2_1(dropout: float = 0.5) -> nn.Module: ...

The factory's keyword arguments are the architecture's config; a checkpoint's card stores
them, so `build(card["architecture"], **card["arch_config"])` rebuilds the exact network.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ferlab.errors import FerlabError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., nn.Module]
    description: str
    # why `ferlab models` cannot count parameters from defaults alone (e.g. "depends on the backbone")
    params_note: str | None = None

    def defaults(self) -> dict:
        sig = inspect.signature(self.factory)
        return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, description: str = "", *, params_note: str | None = None) -> Callable:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, fn, description or (fn.__doc__ or "").strip().split("\n")[0], params_note)
        return fn

    return deco


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise FerlabError(f"unknown architecture {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build(name: str, **config) -> nn.Module:
    entry = get_entry(name)
    allowed = set(inspect.signature(entry.factory).parameters)
    unknown = set(config) - allowed
    if unknown:
        raise FerlabError(
            f"architecture {name!r} has no option(s) {', '.join(sorted(unknown))}; "
            f"options: {', '.join(sorted(allowed)) or 'none'}"
        )
    return entry.factory(**config)


def available() -> list[ModelEntry]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
