"""Batched augmentation in torch: one affine warp per batch (flip, rotation, scale, shift) and
random erasing. It runs on whatever device the batch is on, so no per-image Python work and
no torchvision (unusable with the CPU wheel this project installs)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    hflip: bool = False
    rotate: float = 0.0  # max degrees, uniform in ±rotate
    translate: float = 0.0  # max shift as a fraction of the side
    scale: tuple[float, float] = (1.0, 1.0)  # zoom range; >1 crops in, like random-resized-crop
    erase: float = 0.0  # probability of erasing one random rectangle
    erase_area: tuple[float, float] = (0.02, 0.2)

    @classmethod
    def from_dict(cls, d: dict | None) -> AugmentConfig:
        d = dict(d or {})
        for k in ("scale", "erase_area"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self.hflip or self.rotate > 0 or self.translate > 0 or self.scale != (1.0, 1.0) or self.erase > 0


def affine_warp(
    x: torch.Tensor, angle: torch.Tensor, zoom: torch.Tensor, flip: torch.Tensor, shift: torch.Tensor
) -> torch.Tensor:
    """One warp for the whole batch: per image a rotation (radians), zoom (>1 crops in), mirror
    (flip -1) and shift (N,2; grid units, 2 = the whole side), sampled bilinearly with reflection."""
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: float (N,C,H,W), already normalised. Returns an augmented copy. The random draws come
    from `generator` on its own device (one on the batch's device keeps a GPU step free of host
    work and copies)."""
    if not cfg.active:
        return x
    n, dev = x.shape[0], x.device

    def rand(*shape: int) -> torch.Tensor:
        where = generator.device if generator is not None else dev
        return torch.rand(*shape, generator=generator, device=where).to(dev)

    warp = cfg.hflip or cfg.rotate > 0 or cfg.translate > 0 or cfg.scale != (1.0, 1.0)
    if warp:
        angle = (rand(n) * 2 - 1) * math.radians(cfg.rotate)
        lo, hi = cfg.scale
        zoom = lo + rand(n) * (hi - lo)
        flip = torch.where(rand(n) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n, device=dev)
        shift = (rand(n, 2) * 2 - 1) * cfg.translate * 2  # grid coords span 2 units
        x = affine_warp(x, angle, zoom, flip, shift)
    if cfg.erase > 0:
        h, w = x.shape[-2:]
        area = (cfg.erase_area[0] + rand(n) * (cfg.erase_area[1] - cfg.erase_area[0])) * h * w
        aspect = torch.exp((rand(n) * 2 - 1) * math.log(3.0))
        eh = (area * aspect).sqrt().clamp(1, h)
        ew = (area / aspect).sqrt().clamp(1, w)
        y0 = rand(n) * (h - eh)
        x0 = rand(n) * (w - ew)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        box = (
            (ys >= y0.view(-1, 1, 1))
            & (ys < (y0 + eh).view(-1, 1, 1))
            & (xs >= x0.view(-1, 1, 1))
            & (xs < (x0 + ew).view(-1, 1, 1))
        )
        box &= (rand(n) < cfg.erase).view(-1, 1, 1)
        x = x.masked_fill(box[:, None], 0.0)
    return x
