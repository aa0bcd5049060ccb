"""Face detectors by name, from a registry (ferlab.detectors.registry): `centerface` (the
default, shipped), `yunet` (weights where found), `haar` (OpenCV's cascade). Any object with
`detect(rgb) -> list[Detection]` works as well."""

from __future__ import annotations

import importlib

from ferlab.detectors.base import Detection, FaceDetector, check_searchable
from ferlab.detectors.registry import build_detector, detector_names, detector_spec, register_detector, resolved

# importing a detector's module registers it (each is one decorated class); this order is the one
# users see in --help and errors: the default first
for _name in ("centerface", "yunet", "haar"):
    importlib.import_module(f"ferlab.detectors.{_name}")

DEFAULT_DETECTOR = "centerface"
DETECTORS = detector_names()

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Detection",
    "FaceDetector",
    "build_detector",
    "check_searchable",
    "detector_names",
    "detector_spec",
    "register_detector",
    "resolved",
]
