"""Test-time augmentation: which views of a 48×48 face get their predictions averaged.

- "none": the face as it is (1 forward pass).
- "flip": the face and its mirror image (2 passes).
- "zoomflip": the face and its mirror image zoomed 1.1× (2 passes): of the eleven two-view pairs
  "multi" offers, the best on one seeded half of PublicTest and on the other half alike
  (docs/accuracy.md) — two views that differ in more than the mirror.
- "multi": the face shifted 2 px left, right, up and down, and zoomed 1.1×, each also mirrored,
  beside the face and its mirror (12 passes) — small warps of the kind the training augmentation
  draws, so the model has seen such faces; borders are filled by reflection, as in training.

Every caller (evaluation, the recognizer, the ONNX path, the benchmarks) takes its views from
here, so a mode means the same thing everywhere. `views_np` gives the same views in numpy, for the
onnxruntime path that runs without torch (a test holds the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ferlab.errors import FerlabError

if TYPE_CHECKING:  # torch is imported where used: the CLI reads TTA_MODES without paying for it
    import torch

TTA_MODES = ("none", "flip", "zoomflip", "multi")
PASSES = {"none": 1, "flip": 2, "zoomflip": 2, "multi": 12}
ZOOM = 1.1
# (dx, dy) in pixels and zoom; "multi" takes each of these, mirrored and not
WARPS = [(0, 0, 1.0), (2, 0, 1.0), (-2, 0, 1.0), (0, -2, 1.0), (0, 2, 1.0), (0, 0, ZOOM)]


def tta_mode(value: str | None) -> str:
    """A mode name, checked; None means "none"."""
    if value is None:
        return "none"
    if value not in TTA_MODES:
        raise FerlabError(f"unknown test-time augmentation {value!r} (use {', '.join(TTA_MODES)})")
    return str(value)


def warp(x: torch.Tensor, dx: float, dy: float, zoom: float) -> torch.Tensor:
    """Shift a (N,C,H,W) batch by (dx, dy) pixels and zoom into its centre, reflecting at the borders."""
    import torch
    import torch.nn.functional as F

    if (dx, dy, zoom) == (0, 0, 1.0):
        return x
    n, side = x.shape[0], x.shape[-1]
    theta = torch.tensor([[1 / zoom, 0, -2 * dx / side], [0, 1 / zoom, -2 * dy / side]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(n, 2, 3).to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """The model-input batches a mode averages over, the unchanged batch first."""
    mode = tta_mode(mode)
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x.flip(-1)]
    if mode == "zoomflip":
        return [x, warp(x, 0, 0, ZOOM).flip(-1)]
    out = []
    for dx, dy, zoom in WARPS:
        v = warp(x, dx, dy, zoom)
        out += [v, v.flip(-1)]
    return out


def averaged(
    probs_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mode: str, *, max_batch: int = 512
) -> torch.Tensor:
    """Mean of `probs_of(view)` over the mode's views of `x`. Few faces (a photo, a video frame)
    go through as one batch of all their views: one call of 12 is much faster than 12 calls of 1."""
    import torch

    vs = views(x, mode)
    if len(vs) > 1 and len(x) * len(vs) <= max_batch:
        return probs_of(torch.cat(vs)).reshape(len(vs), len(x), -1).mean(0)
    total = probs_of(vs[0])
    for v in vs[1:]:
        total = total + probs_of(v)
    return total / len(vs)


def _reflect(c: np.ndarray, n: int) -> np.ndarray:
    """grid_sample's reflection padding (align_corners=False): mirror about -0.5 and n - 0.5, then clip."""
    span = float(n)
    c = np.abs(c + 0.5)
    flips = np.floor(c / span)
    extra = np.fmod(c, span)
    c = np.where(flips % 2 == 0, extra, span - extra) - 0.5
    return np.clip(c, 0, n - 1)


def _axis_matrix(n: int, shift: float, zoom: float) -> np.ndarray:
    """(n, n) bilinear resampling matrix of one axis of `warp`: the warp is separable (no rotation)."""
    j = np.arange(n)
    src = ((2 * j + 1) / n - 1) / zoom - 2 * shift / n  # normalised source coordinate, as affine_grid
    ix = _reflect(((src + 1) * n - 1) / 2, n)
    x0 = np.floor(ix).astype(np.int64)
    w = ix - x0
    m = np.zeros((n, n), np.float64)
    np.add.at(m, (j, x0), 1 - w)
    np.add.at(m, (j, np.minimum(x0 + 1, n - 1)), w)
    return m.astype(np.float32)


def views_np(x: np.ndarray, mode: str) -> list[np.ndarray]:
    """`views` for a float32 numpy batch (N,C,H,W)."""
    mode = tta_mode(mode)
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x[..., ::-1]]
    h, w = x.shape[-2:]
    if mode == "zoomflip":
        return [x, (_axis_matrix(h, 0, ZOOM) @ x @ _axis_matrix(w, 0, ZOOM).T)[..., ::-1]]
    out = []
    for dx, dy, zoom in WARPS:
        v = x if (dx, dy, zoom) == (0, 0, 1.0) else _axis_matrix(h, dy, zoom) @ x @ _axis_matrix(w, dx, zoom).T
        out += [v, v[..., ::-1]]
    return out


def averaged_np(probs_of: Callable[[np.ndarray], np.ndarray], x: np.ndarray, mode: str) -> np.ndarray:
    """`averaged` for numpy: all views of a few faces go through as one batch."""
    vs = views_np(x, mode)
    if len(vs) == 1:
        return probs_of(x)
    return probs_of(np.ascontiguousarray(np.concatenate(vs))).reshape(len(vs), len(x), -1).mean(0)
