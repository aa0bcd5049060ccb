"""Face detection that works offline, and the crop every detector's boxes go through.

The default detector is OpenCV's Haar cascade (`haarcascade_frontalface_alt2.xml`), whose model
file ships inside the opencv-python-headless 4.x wheel (`cv2.data`), so it needs no download;
benchmarks/detectors.py compares the shipped cascades and settings on recall and speed. Its limits: frontal and
near-frontal faces, roughly upright (±15°); profiles and heavy occlusion are missed; scores are
cascade level weights, not probabilities. To use another detector, pass any object with a
`detect(rgb: np.ndarray) -> list[Detection]` method to `Recognizer(detector=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ferlab.errors import FerlabError

FACE_SIZE = 48


@dataclass
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the input image
    score: float


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


class HaarFaceDetector:
    """OpenCV Haar cascade (frontal faces), with a confidence from the cascade's last stage."""

    def __init__(
        self,
        min_size: int = 24,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        max_side: int = 1280,
        cascade: str = "haarcascade_frontalface_alt2.xml",
    ) -> None:
        # Defaults chosen by benchmarks/detectors.py: alt2 with 3 neighbours finds more faces than
        # OpenCV's usual default cascade with 5, with fewer false hits, and runs faster.
        data = getattr(cv2, "data", None)
        path = f"{data.haarcascades}{cascade}" if data else ""
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise FerlabError(
                "OpenCV's Haar face cascade is missing (opencv 5.x wheels ship none); "
                "install opencv-python-headless<5, or pass your own detector, or use classify_faces on crops"
            )
        self.min_size = min_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        # Large photos are searched at reduced size: same faces, a fraction of the time.
        scale = min(1.0, self.max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        min_size = max(12, int(self.min_size * scale))
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size),
            outputRejectLevels=True,
        )
        out = []
        for (x, y, w, h), s in zip(boxes, np.ravel(weights), strict=False):
            out.append(Detection(tuple(round(v / scale) for v in (x, y, w, h)), float(s)))
        return sorted(out, key=lambda d: (d.box[0], d.box[1]))


def crop_face(rgb: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.1) -> np.ndarray:
    """Square crop around a box (with margin, edge-padded at borders) → uint8 48×48 gray.

    FER-2013 faces fill the frame with a little context; a 10% margin matches them best.
    """
    x, y, w, h = box
    side = round(max(w, h) * (1 + 2 * margin))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    H, W = gray.shape
    pad = max(0, -x0, -y0, x0 + side - W, y0 + side - H)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = gray[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)


def to_face_array(img: np.ndarray) -> np.ndarray:
    """An already-cropped face (any size, gray/RGB) → uint8 48×48 gray."""
    from ferlab.inference.images import array_to_rgb

    rgb = array_to_rgb(np.asarray(img))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if gray.shape != (FACE_SIZE, FACE_SIZE):
        gray = cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return gray
