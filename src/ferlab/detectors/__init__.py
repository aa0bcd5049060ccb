"""Face detectors by name: `centerface` (the default, shipped), `yunet` (weights where found),
`haar` (OpenCV's cascade). Any object with `detect(rgb) -> list[Detection]` works as well."""

from __future__ import annotations

import os

from ferlab.detectors.base import Detection, FaceDetector, check_searchable
from ferlab.errors import FerlabError

DETECTORS = ("centerface", "yunet", "haar")
DEFAULT_DETECTOR = "centerface"
# Chosen by benchmarks/detectors.py (docs/benchmarks.md): on photos with known truth, CenterFace
# int8 at 640 px and threshold 0.3 finds about twice the faces Haar finds, with no false positive,
# in a seventh of its time; int8 costs 0.02 recall against fp32 for a fifth less time. Video frames
# are searched at 320 px (faces in video are large), with threshold 0.5 (fewer flickering false hits).
PHOTO_SIDE = 640
VIDEO_SIDE = 320
CENTERFACE_THRESHOLD = 0.3
VIDEO_THRESHOLD = 0.5
CENTERFACE_PRECISION = "int8"

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "Detection", "FaceDetector", "build_detector", "check_searchable"]


def build_detector(
    name: str = DEFAULT_DETECTOR,
    *,
    max_side: int = PHOTO_SIDE,
    min_size: int = 16,
    threshold: float | None = None,
    weights: str | os.PathLike | None = None,
    precision: str | None = None,
) -> FaceDetector:
    """A detector by name, searching images scaled to `max_side` on their longer side."""
    if name == "centerface":
        from ferlab.detectors.centerface import CenterFaceDetector

        return CenterFaceDetector(
            max_side=max_side,
            min_size=min_size,
            threshold=threshold or CENTERFACE_THRESHOLD,
            precision=precision or CENTERFACE_PRECISION,
        )
    if name == "yunet":
        from ferlab.detectors.yunet import YuNetDetector

        return YuNetDetector(weights, max_side=max_side, min_size=min_size, threshold=threshold or 0.6)
    if name == "haar":
        from ferlab.detectors.haar import HaarFaceDetector

        return HaarFaceDetector(
            min_size=max(min_size, 24), max_side=max(max_side, 1280) if max_side >= 640 else max_side
        )
    raise FerlabError(f"unknown detector {str(name)[:40]!r} (use {', '.join(DETECTORS)})")
