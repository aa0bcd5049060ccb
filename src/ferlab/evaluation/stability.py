"""How often a face's label survives what happens to photos on the way to the model: saving
again as JPEG, mirroring, resizing, and the few pixels a detector's box moves between two
versions of a photo. Measured on aligned 48×48 faces (PublicTest), so it is the classifier's own
consistency, with the same crop path (`to_face_array`) photos take.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from ferlab.inference.faces import to_face_array


def _jpeg(face: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def _resize(face: np.ndarray) -> np.ndarray:
    # the photo resized to 256×300 (the aspect changes, as in the report that asked for this),
    # then cropped to the model's 48×48 as photos are
    big = cv2.resize(face, (256, 300), interpolation=cv2.INTER_CUBIC)
    return to_face_array(big)


def _shift(face: np.ndarray, px: int = 2) -> np.ndarray:
    # a detector box 2 px off to the right and down (a 4% shift of a 48-px face)
    m = np.float32([[1, 0, -px], [0, 1, -px]])
    return cv2.warpAffine(face, m, (face.shape[1], face.shape[0]), borderMode=cv2.BORDER_REFLECT)


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg_q75": _jpeg,
    "mirror": lambda f: np.ascontiguousarray(f[:, ::-1]),
    "resize_256x300": _resize,
    "box_shift_2px": _shift,
}


def consistency(probs_of: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, batch: int = 256) -> dict:
    """Fraction of faces whose predicted label is unchanged under each perturbation, and under all
    of them at once ("all"). `probs_of`: uint8 (N,48,48) → (N,C) probabilities."""

    def labels(imgs: np.ndarray) -> np.ndarray:
        return np.concatenate([probs_of(imgs[i : i + batch]).argmax(1) for i in range(0, len(imgs), batch)])

    base = labels(faces)
    same = {}
    for name, fn in PERTURBATIONS.items():
        same[name] = labels(np.stack([fn(f) for f in faces])) == base
    out = {name: float(s.mean()) for name, s in same.items()}
    out["all"] = float(np.logical_and.reduce(list(same.values())).mean())
    out["n"] = len(faces)
    return out
