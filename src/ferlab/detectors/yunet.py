"""YuNet (Apache-2.0; Shiqi Yu et al., libfacedetection), run by OpenCV's `cv2.FaceDetectorYN`:
as accurate as CenterFace here and about twice as fast, five landmarks. Its weights come from
outside the package registries, so ferlab never ships them: they are used where found —
an explicit path, `$FERLAB_YUNET`, or the cache dir — and otherwise fetched once from their
official source and checked against their sha256.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from ferlab.detectors.base import Detection, for_search, ordered_landmarks, sort_detections
from ferlab.detectors.registry import register_detector
from ferlab.errors import FerlabError
from ferlab.io import atomic_write
from ferlab.paths import cache_dir

FILE = "yunet_s_640_640.onnx"
SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
URL = "https://github.com/ShiqiYu/libfacedetection.train/raw/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx/" + FILE
ENV = "FERLAB_YUNET"


def yunet_weights(path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """The YuNet ONNX file: `path`, else $FERLAB_YUNET, else the cache dir, else downloaded there."""
    given = path or os.environ.get(ENV)
    if given:
        p = Path(given).expanduser()
        if p.is_dir():
            p = p / FILE
        if not p.is_file():
            raise FerlabError(f"{p}: YuNet weights not found (give the path of {FILE})")
        return p
    cached = cache_dir() / "models" / FILE
    if cached.is_file():
        return cached
    if not download:
        raise FerlabError(f"YuNet weights not found: pass --detector-weights PATH or set ${ENV}")
    try:
        with urllib.request.urlopen(URL, timeout=30) as r:
            data = r.read()
    except OSError as e:
        raise FerlabError(
            f"YuNet weights not found and the download failed ({e}); pass --detector-weights PATH "
            f"(the file {FILE}), or set ${ENV}"
        ) from None
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise FerlabError(f"YuNet download from {URL} does not match its sha256 {SHA256}; not used")
    atomic_write(cached, lambda tmp: Path(tmp).write_bytes(data))
    return cached


@register_detector(
    "yunet",
    presets={"photo": {"search_side": 640, "threshold": 0.6}, "video": {"search_side": 320, "threshold": 0.6}},
    summary="YuNet (Apache-2.0, OpenCV zoo): weights from --detector-weights, $FERLAB_YUNET or the cache",
)
class YuNetDetector:
    name = "yunet"

    @classmethod
    def from_options(cls, options, *, search_side: int, threshold: float, threads: int | None = None):
        return cls(options.weights, max_side=search_side, threshold=threshold, min_size=options.min_face)

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        max_side: int = 640,
        threshold: float = 0.6,
        nms: float = 0.3,
        min_size: int = 16,
    ) -> None:
        self.path = yunet_weights(weights)
        try:
            self.net = cv2.FaceDetectorYN.create(str(self.path), "", (320, 320), threshold, nms, 5000)
        except cv2.error as e:
            raise FerlabError(f"{self.path}: OpenCV cannot load it as YuNet ({str(e).strip()[:120]})") from None
        self.max_side = max_side
        self.threshold = threshold
        self.min_size = min_size

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        H, W = rgb.shape[:2]
        img, scale = for_search(rgb, self.max_side)
        self.net.setInputSize((img.shape[1], img.shape[0]))
        _, faces = self.net.detect(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        out = []
        for f in faces if faces is not None else []:
            x, y, bw, bh = (float(v) / scale for v in f[:4])
            x1, y1 = max(0.0, x), max(0.0, y)
            x2, y2 = min(float(W), x + bw), min(float(H), y + bh)
            if min(x2 - x1, y2 - y1) < self.min_size:
                continue
            pts = np.asarray(f[4:14], np.float64).reshape(5, 2) / scale
            box = (round(x1), round(y1), round(x2 - x1), round(y2 - y1))
            out.append(Detection(box, float(f[14]), ordered_landmarks(pts)))
        return sort_detections(out)
