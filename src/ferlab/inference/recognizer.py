"""The public API: `Recognizer` finds faces and names their emotions.

from ferlab import Recognizer
rec = Recognizer()                       # the bundled default model, torch on CPU
for face in rec.predict("photo.jpg"):
    print(face.box, face.label, face.probs["happy"])
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
from PIL import Image

from ferlab.checkpoint import load_model
from ferlab.errors import FerlabError
from ferlab.evaluation.metrics import model_probs
from ferlab.inference.faces import FaceDetector, HaarFaceDetector, crop_face, to_face_array
from ferlab.inference.images import load_image
from ferlab.preprocess import to_model_input
from ferlab.tta import averaged, tta_mode

ImageLike = str | os.PathLike | Image.Image | np.ndarray


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h
    score: float  # detection score (1.0 for faces given pre-cropped)
    label: str
    probs: dict[str, float]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["box"] = list(self.box)
        return d


class Recognizer:
    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str = "cpu",
        backend: str = "torch",
        detector: FaceDetector | None = None,
        tta: bool | str | None = None,
        margin: float = 0.1,
        min_face: int = 24,
    ) -> None:
        if backend not in ("torch", "onnxruntime"):
            raise FerlabError(f"unknown backend {backend!r}; use 'torch' or 'onnxruntime'")
        self.backend = backend
        self.device = device
        self.model, self.card = load_model(model, device=device)
        self.classes: list[str] = list(self.card["classes"])
        # the card says which test-time augmentation the model was measured and shipped with
        self.tta = tta_mode(self.card.get("metrics", {}).get("tta_default", False) if tta is None else tta)
        self.margin = margin
        self._detector = detector
        self._own_detector = detector
        self._min_face = min_face
        self._ort = None
        if backend == "onnxruntime":
            from ferlab.inference.onnx import OnnxSession

            self._ort = OnnxSession.for_model(self.model, self.card)

    def video_detector(self, max_side: int) -> FaceDetector:
        """The detector for video frames: the user's own, else Haar searching at reduced size."""
        if self._own_detector is not None:
            return self._own_detector
        return HaarFaceDetector(min_size=self._min_face, max_side=max_side)

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:  # built on first use: classify_faces never needs it
            self._detector = HaarFaceDetector(min_size=self._min_face)
        return self._detector

    @property
    def name(self) -> str:
        return self.card["name"]

    # -- classification of 48×48 uint8 faces
    def probabilities(self, faces: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 (N,48,48) faces → (N,7) probabilities, in the card's class order."""
        faces_t = torch.as_tensor(np.asarray(faces, dtype=np.uint8))
        if len(faces_t) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        x = to_model_input(faces_t, self.card["input"]["mean"], self.card["input"]["std"])
        if self._ort is not None:
            ort = self._ort
            return averaged(lambda v: torch.from_numpy(ort.probs(v.contiguous().numpy())), x, self.tta).numpy()
        with torch.inference_mode():
            p = averaged(partial(model_probs, self.model), x.to(self.device), self.tta)
        return p.cpu().numpy()

    def faces_from(self, boxes: list[tuple[tuple[int, int, int, int], float]], probs: np.ndarray) -> list[Face]:
        return [
            Face(
                box,
                round(score, 4),
                self.classes[int(p.argmax())],
                {c: round(float(v), 5) for c, v in zip(self.classes, p, strict=True)},
            )
            for (box, score), p in zip(boxes, probs, strict=True)
        ]

    def classify_faces(self, crops: list[ImageLike] | np.ndarray) -> list[Face]:
        """Already-cropped faces (paths, PIL, arrays of any size/mode) — no detection."""
        arrays = [to_face_array(load_image(c)) for c in crops]
        if not arrays:
            return []
        probs = self.probabilities(np.stack(arrays))
        return self.faces_from([((0, 0, a.shape[1], a.shape[0]), 1.0) for a in arrays], probs)

    def detect(self, image: ImageLike, *, bgr: bool = False) -> tuple[np.ndarray, list]:
        rgb = load_image(image, bgr=bgr)
        return rgb, [(d.box, d.score) for d in self.detector.detect(rgb)]

    def predict(self, image: ImageLike, *, bgr: bool = False) -> list[Face]:
        """Every face found in one image, left to right. No face → an empty list."""
        return self.predict_batch([image], bgr=bgr)[0]

    def predict_batch(self, images: list[ImageLike], *, bgr: bool = False) -> list[list[Face]]:
        """Detect in each image, then classify all faces of all images in one model call."""
        found = [self.detect(im, bgr=bgr) for im in images]
        crops = [crop_face(rgb, box, self.margin) for rgb, dets in found for box, _ in dets]
        probs = self.probabilities(np.stack(crops)) if crops else np.zeros((0, len(self.classes)))
        out, i = [], 0
        for _, dets in found:
            out.append(self.faces_from(dets, probs[i : i + len(dets)]))
            i += len(dets)
        return out
