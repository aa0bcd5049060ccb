"""Photos whose truth is known: FER-2013 faces pasted into real backgrounds, at 24–400 px,
rotated up to ±30°, some partly covered, blurred or darkened, several per frame. Detectors,
alignment and the whole pipeline are measured on them (benchmarks/detectors.py,
benchmarks/alignment.py): where each face is, how it is turned and what it shows are known.

Backgrounds are real photos that ship inside installed packages (matplotlib's sample data, and
scikit-image's data folder where scikit-image is installed — read as files, never imported), so
nothing is downloaded; without them a plain textured background stands in.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferlab.detectors.base import iou

# photos without faces (the cat is there on purpose: a face-like non-face)
_SKIMAGE = ["coffee.png", "chelsea.png", "motorcycle_left.png", "brick.png", "grass.png", "gravel.png", "rocket.jpg"]
_SKIMAGE += ["hubble_deep_field.jpg", "page.png", "retina.jpg", "text.png"]
# photos with faces: a small sanity set for the detectors (name → number of faces)
FACE_PHOTOS = {"matplotlib:grace_hopper.jpg": 1, "skimage:astronaut.png": 1, "skimage:camera.png": 1}


def _package_file(spec: str) -> Path | None:
    pkg, name = spec.split(":")
    if pkg == "matplotlib":
        import matplotlib

        p = Path(matplotlib.get_data_path()) / "sample_data" / name
    else:
        found = importlib.util.find_spec("skimage")
        if found is None or not found.submodule_search_locations:
            return None
        p = Path(next(iter(found.submodule_search_locations))) / "data" / name
    return p if p.is_file() else None


def read_rgb(spec: str) -> np.ndarray | None:
    """'package:file' → RGB uint8, or None where the package (or file) is not installed."""
    p = _package_file(spec)
    if p is None:
        return None
    from ferlab.inference.images import load_image

    return load_image(p)


def backgrounds() -> list[np.ndarray]:
    specs = ["matplotlib:Minduka_Present_Blue_Pack.png", *(f"skimage:{n}" for n in _SKIMAGE)]
    found = [im for im in (read_rgb(s) for s in specs) if im is not None]
    if not found:
        rng = np.random.default_rng(0)
        found = [cv2.GaussianBlur(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8), (0, 0), 3)]
    return found


@dataclass
class PlacedFace:
    center: tuple[float, float]  # in the frame, pixels
    side: float  # side of the pasted FER-2013 square, pixels
    angle: float  # degrees, counter-clockwise as shown
    label: int
    index: int  # the face's index in the split it came from

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The upright square the face would fill unrotated: what a detector's box should cover."""
        s = self.side
        return (round(self.center[0] - s / 2), round(self.center[1] - s / 2), round(s), round(s))


def _paste(frame: np.ndarray, face: np.ndarray, cx: float, cy: float, side: float, angle: float) -> None:
    big = cv2.resize(face, (round(side), round(side)), interpolation=cv2.INTER_CUBIC if side > 48 else cv2.INTER_AREA)
    big = cv2.cvtColor(big, cv2.COLOR_GRAY2RGB)
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    m[:, 2] += (cx - side / 2, cy - side / 2)
    warped = cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full(big.shape[:2], 255, np.uint8), m, (w, h), flags=cv2.INTER_LINEAR)
    a = (mask.astype(np.float32) / 255.0)[:, :, None]
    frame[:] = (frame * (1 - a) + warped * a).round().astype(np.uint8)


def make_scene(
    rng: np.random.Generator,
    faces: np.ndarray,
    labels: np.ndarray,
    bgs: list[np.ndarray],
    *,
    size: tuple[int, int] = (800, 600),
    n_faces: tuple[int, int] = (1, 3),
    side: tuple[float, float] = (24, 400),
    max_angle: float = 30.0,
    occlude: float = 0.25,
    blur: float = 0.25,
    dark: float = 0.25,
) -> tuple[np.ndarray, list[PlacedFace]]:
    """One frame (RGB uint8, `size` = (w, h)) and the faces in it. Sides are drawn log-uniformly."""
    W, H = size
    bg = bgs[int(rng.integers(len(bgs)))]
    scale = max(W / bg.shape[1], H / bg.shape[0])
    bg = cv2.resize(bg, (max(W, round(bg.shape[1] * scale)), max(H, round(bg.shape[0] * scale))))
    y0, x0 = int(rng.integers(0, bg.shape[0] - H + 1)), int(rng.integers(0, bg.shape[1] - W + 1))
    frame = np.ascontiguousarray(bg[y0 : y0 + H, x0 : x0 + W])
    placed: list[PlacedFace] = []
    for _ in range(int(rng.integers(n_faces[0], n_faces[1] + 1))):
        for _attempt in range(30):
            s = float(np.exp(rng.uniform(np.log(side[0]), np.log(side[1]))))
            ang = float(rng.uniform(-max_angle, max_angle))
            extent = s * (abs(np.cos(np.radians(ang))) + abs(np.sin(np.radians(ang))))
            if extent >= min(W, H):
                continue
            cx = float(rng.uniform(extent / 2, W - extent / 2))
            cy = float(rng.uniform(extent / 2, H - extent / 2))
            if all(np.hypot(cx - p.center[0], cy - p.center[1]) > (s + p.side) * 0.75 for p in placed):
                break
        else:
            continue
        i = int(rng.integers(len(faces)))
        face = faces[i].copy()
        if rng.random() < occlude:  # a hand, a scarf, a microphone: 15–30% of the face covered
            fh = int(rng.integers(7, 15))
            top = int(rng.integers(0, 48 - fh))
            face[top : top + fh, :] = int(rng.integers(0, 256))
        if rng.random() < blur:
            face = cv2.GaussianBlur(face, (0, 0), float(rng.uniform(0.6, 1.5)))
        _paste(frame, face, cx, cy, s, ang)
        placed.append(PlacedFace((cx, cy), s, ang, int(labels[i]), i))
    if rng.random() < dark:
        frame = (frame.astype(np.float32) * rng.uniform(0.25, 0.55)).astype(np.uint8)
    return frame, placed


def match(dets: list, truth: list[PlacedFace], threshold: float = 0.3) -> list[tuple[int, int]]:
    """Greedy one-to-one (detection index, truth index) pairs with IoU ≥ threshold, best first."""
    pairs = sorted(
        ((iou(d.box, t.box), di, ti) for di, d in enumerate(dets) for ti, t in enumerate(truth)), reverse=True
    )
    used_d, used_t, out = set(), set(), []
    for v, di, ti in pairs:
        if v < threshold:
            break
        if di not in used_d and ti not in used_t:
            used_d.add(di)
            used_t.add(ti)
            out.append((di, ti))
    return out
