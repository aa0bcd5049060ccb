"""From a detected face to the model's 48×48 input: upright (aligned on the eyes) and framed as
FER-2013 faces are framed, or — without landmarks, or with `align=False` — a square crop around
the detector's box as before.

FER-2013's framing, measured (benchmarks/alignment.py fits it on PublicTest faces pasted into
photos, where the true square is known): the square's centre lies 0.26 of the way from the eyes'
midpoint to the mouth's, and its side is 1.37 × (eye distance + eye-to-mouth distance) (YuNet's
landmarks give 0.31 and 1.37). The eye line is turned horizontal before the crop. On faces
rotated up to ±30° this lifts whole-pipeline accuracy by about 6 points over the former square
crop; on upright faces it is a point above it, and under two below a tighter square crop
(margin 0) — docs/benchmarks.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from ferlab.detectors.base import Detection

FACE_SIZE = 48
# FER-2013's framing from the five landmarks (see the module docstring)
FRAME_CENTRE = 0.26
FRAME_SIDE = 1.37


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def _square(gray: np.ndarray, cx: float, cy: float, side: int) -> tuple[np.ndarray, int, int]:
    """The side×side square centred at (cx, cy), edges replicated where it leaves the image,
    and the image coordinates of its top-left pixel."""
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    H, W = gray.shape
    pad = max(0, -x0, -y0, x0 + side - W, y0 + side - H)
    px, py = x0, y0
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        px, py = x0 + pad, y0 + pad
    return gray[py : py + side, px : px + side], x0, y0


def crop_face(rgb: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.1) -> np.ndarray:
    """Square crop around a box (with margin, edge-padded at borders) → uint8 48×48 gray."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * (1 + 2 * margin)))
    crop, _, _ = _square(_gray(rgb), x + w / 2, y + h / 2, side)
    return cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)


def align_face(rgb: np.ndarray, landmarks, context: float = 1.0, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Rotate the face upright on its eye line and crop it with FER-2013's framing → uint8 48×48.

    `context` scales the square (1.0: FER-2013's own framing). Large faces are first reduced with
    area averaging, so the rotation never aliases; `interpolation` is the last step's filter, to
    48 px (benchmarks/framing.py compares context and filter)."""
    pts = np.asarray(landmarks, np.float64)
    left_eye, right_eye = pts[0], pts[1]
    eyes, mouth = (left_eye + right_eye) / 2, (pts[3] + pts[4]) / 2
    angle = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    side = FRAME_SIDE * context * (np.linalg.norm(right_eye - left_eye) + np.linalg.norm(mouth - eyes))
    side = max(side, 8.0)
    centre = eyes + FRAME_CENTRE * (mouth - eyes)
    # a region wide enough for any rotation, reduced to twice the output size first
    region = max(2, round(side * 1.5))
    patch, x0, y0 = _square(_gray(rgb), centre[0], centre[1], region)
    c = centre - (x0, y0)  # the centre in the patch's pixels
    work = 2 * FACE_SIZE
    if work < side:
        size = max(2, round(region * work / side))
        f = size / region
        patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
        c = (c + 0.5) * f - 0.5
        side *= f
    m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), float(angle), work / side)
    m[:, 2] += (work - 1) / 2 - c
    upright = cv2.warpAffine(patch, m, (work, work), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(upright, (FACE_SIZE, FACE_SIZE), interpolation=interpolation)


def face_crop(rgb: np.ndarray, det: Detection, *, align: bool = True, margin: float = 0.1, **framing) -> np.ndarray:
    """The model input for one detection: aligned where the detector gives landmarks (and align
    is on; `framing`: align_face's context and interpolation), else a square around the box."""
    if align and det.landmarks is not None:
        return align_face(rgb, det.landmarks, **framing)
    return crop_face(rgb, det.box, margin)


def to_face_array(img: np.ndarray) -> np.ndarray:
    """An already-cropped face (any size, gray/RGB) → uint8 48×48 gray."""
    from ferlab.inference.images import array_to_rgb

    gray = _gray(array_to_rgb(np.asarray(img)))
    if gray.shape != (FACE_SIZE, FACE_SIZE):
        gray = cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return gray
