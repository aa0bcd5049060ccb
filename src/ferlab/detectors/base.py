"""What every face detector gives: boxes, a score, and where it has them, five landmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ferlab.errors import FerlabError

Point = tuple[float, float]


@dataclass
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the input image
    score: float  # CNN detectors: a probability; Haar: the cascade's stage weight
    # eye, eye, nose tip, mouth corner, mouth corner — each pair ordered left to right in the image
    landmarks: tuple[Point, Point, Point, Point, Point] | None = None


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


# The smallest side an image may have to be searched, and the most elongated it may be: a 1×60000
# strip cannot hold a face, and resizing it for the detector would leave an empty image.
MIN_SIDE = 16
MAX_ASPECT = 20.0


def check_searchable(rgb: np.ndarray, where: str = "image") -> None:
    check_search_size(rgb.shape[1], rgb.shape[0], where)


def check_search_size(w: int, h: int, where: str = "image") -> None:
    """A clear error for an image (w×h pixels) that cannot hold a face to search for."""
    if min(h, w) < MIN_SIDE or max(h, w) / max(1, min(h, w)) > MAX_ASPECT:
        raise FerlabError(
            f"{where}: image is {w}x{h} pixels, too small or too elongated to search for faces "
            f"(needs both sides ≥ {MIN_SIDE} px and an aspect ratio ≤ {MAX_ASPECT:g}:1)"
        )


def search_scale(shape: tuple[int, ...], max_side: int) -> float:
    """Factor that brings the longer side down to `max_side` (never up)."""
    return min(1.0, max_side / max(shape[:2]))


def for_search(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image a detector searches (longer side at most `max_side`, area-averaged) and its scale."""
    import cv2

    scale = search_scale(rgb.shape, max_side)
    if scale >= 1.0:
        return rgb, 1.0
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def sort_detections(dets: list[Detection]) -> list[Detection]:
    """Left to right, then top to bottom: the order faces are numbered in."""
    return sorted(dets, key=lambda d: (d.box[0], d.box[1]))


def ordered_landmarks(pts: np.ndarray) -> tuple[Point, ...]:
    """(5, 2) points → eyes and mouth corners each ordered left to right in the image."""
    p = [tuple(float(v) for v in q) for q in pts]
    eyes = sorted(p[:2])
    mouth = sorted(p[3:5])
    return (eyes[0], eyes[1], p[2], mouth[0], mouth[1])


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0
