"""The detector registry: a new face detector is one class decorated with `register_detector`,
carrying its search presets per mode ("photo", "video") and a `from_options` constructor. Nothing
outside a detector's own module knows anything particular about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ferlab.detectors.base import FaceDetector
from ferlab.errors import FerlabError
from ferlab.options import MODES, DetectorOptions


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    build: Callable[..., FaceDetector]  # (options, *, search_side, threshold, threads) -> detector
    presets: dict[str, dict]  # mode → {"search_side": px, "threshold": score}
    summary: str


_DETECTORS: dict[str, DetectorSpec] = {}


def register_detector(name: str, *, presets: dict[str, dict], summary: str):
    """Class decorator: `cls.from_options(options, *, search_side, threshold, threads)` builds it."""
    missing = [m for m in MODES if m not in presets]
    if missing:
        raise ValueError(f"detector {name}: presets for {missing} missing")

    def deco(cls):
        _DETECTORS[name] = DetectorSpec(name, cls.from_options, presets, summary)
        return cls

    return deco


def detector_names() -> tuple[str, ...]:
    return tuple(_DETECTORS)


def detector_spec(name: str) -> DetectorSpec:
    if name not in _DETECTORS:
        raise FerlabError(f"unknown detector {str(name)[:40]!r} (use {', '.join(_DETECTORS)})")
    return _DETECTORS[name]


def resolved(options: DetectorOptions, mode: str = "photo") -> dict:
    """The search side and threshold a detector will use: the options' own, else the mode's preset."""
    preset = detector_spec(options.name).presets[mode]
    return {
        "search_side": options.search_side or preset["search_side"],
        "threshold": options.threshold or preset["threshold"],
    }


def build_detector(
    name: str | None = None,
    *,
    options: DetectorOptions | None = None,
    mode: str = "photo",
    threads: int | None = None,
    max_side: int | None = None,
    min_size: int | None = None,
    threshold: float | None = None,
    weights=None,
    **extra,
) -> FaceDetector:
    """A detector from its options (or, for scripts, by name with the fields given directly)."""
    if options is None:
        options = DetectorOptions(
            name=name or "centerface",
            weights=None if weights is None else str(weights),
            search_side=max_side,
            threshold=threshold,
            **({} if min_size is None else {"min_face": min_size}),
        )
    spec = detector_spec(options.name)
    return spec.build(options, **resolved(options, mode), threads=threads, **extra)
