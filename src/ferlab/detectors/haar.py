"""OpenCV's Haar cascade: shipped inside the opencv-python-headless 4.x wheel, no landmarks.

Kept by name (`--detector haar`) for comparison and for machines without onnxruntime. Its limits:
frontal, roughly upright faces (±15°); profiles and occlusion are missed; false hits on textures;
scores are cascade stage weights, not probabilities.
"""

from __future__ import annotations

import cv2
import numpy as np

from ferlab.detectors.base import Detection, search_scale, sort_detections
from ferlab.detectors.registry import register_detector
from ferlab.errors import FerlabError


# The cascade misses small faces when photos are reduced as far as the CNN detectors take them, so
# photos are searched at 1280 px; its score is the last stage's weight, not a probability (no threshold).
@register_detector(
    "haar",
    presets={"photo": {"search_side": 1280, "threshold": None}, "video": {"search_side": 320, "threshold": None}},
    summary="OpenCV's Haar cascade (frontal faces); no landmarks",
)
class HaarFaceDetector:
    """OpenCV Haar cascade (frontal faces), with a confidence from the cascade's last stage."""

    name = "haar"

    @classmethod
    def from_options(cls, options, *, search_side: int, threshold: float | None, threads: int | None = None):
        return cls(min_size=max(options.min_face, 24), max_side=search_side)

    def __init__(
        self,
        min_size: int = 24,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        max_side: int = 1280,
        cascade: str = "haarcascade_frontalface_alt2.xml",
    ) -> None:
        # alt2 with 3 neighbours finds more faces than OpenCV's usual default cascade with 5, with
        # fewer false hits, and runs faster (benchmarks/detectors.py)
        data = getattr(cv2, "data", None)
        path = f"{data.haarcascades}{cascade}" if data else ""
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise FerlabError(
                "OpenCV's Haar face cascade is missing (opencv 5.x wheels ship none); "
                "install opencv-python-headless<5, or use another detector"
            )
        self.min_size = min_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = search_scale(gray.shape, self.max_side)
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
        out = [
            Detection(tuple(round(v / scale) for v in (x, y, w, h)), float(s))
            for (x, y, w, h), s in zip(boxes, np.ravel(weights), strict=False)
        ]
        return sort_detections(out)
