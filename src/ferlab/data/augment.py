"""Batched augmentation in torch: one affine warp per batch (flip, rotation, scale, shift),
random erasing, and the ways real photos differ from FER-2013's crops — blur, JPEG artefacts,
sensor noise, low resolution upsampled, gamma/contrast/illumination, partial occlusion. It runs on
whatever device the batch is on, so no per-image Python work and no torchvision (unusable with
the CPU wheel this project installs; its JPEG round trip would also need a CPU per-image loop, so
JPEG artefacts are made here by quantising the 8×8 DCT as a JPEG encoder does)."""

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
    # real-photo degradations, each the probability that an image gets it (0 = off)
    blur: float = 0.0  # Gaussian blur, sigma uniform in blur_sigma (pixels of the 48 px face)
    blur_sigma: tuple[float, float] = (0.4, 1.4)
    jpeg: float = 0.0  # JPEG artefacts at a quality uniform in jpeg_quality
    jpeg_quality: tuple[float, float] = (15.0, 70.0)
    noise: float = 0.0  # Gaussian sensor noise, std uniform in noise_std (fraction of full scale)
    noise_std: tuple[float, float] = (0.01, 0.06)
    lowres: float = 0.0  # downscaled to one of lowres_sides, upscaled back: a small face in a photo
    lowres_sides: tuple[int, ...] = (12, 16, 20, 24, 32)
    photometric: float = 0.0  # gamma, contrast, brightness and a linear illumination gradient
    occlude: float = 0.0  # a rectangle of random grey level over 10-30% of the face (hand, glasses, mask)

    @property
    def photo(self) -> bool:
        return any(p > 0 for p in (self.blur, self.jpeg, self.noise, self.lowres, self.photometric, self.occlude))

    @classmethod
    def from_dict(cls, d: dict | None) -> AugmentConfig:
        d = dict(d or {})
        for k in ("scale", "erase_area", "blur_sigma", "jpeg_quality", "noise_std", "lowres_sides"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def active(self) -> bool:
        warp = self.hflip or self.rotate > 0 or self.translate > 0 or self.scale != (1.0, 1.0)
        return warp or self.erase > 0 or self.photo


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


def augment_batch(
    x: torch.Tensor,
    cfg: AugmentConfig,
    generator: torch.Generator | None = None,
    *,
    mean: float = 0.5,
    std: float = 0.25,
) -> torch.Tensor:
    """x: float (N,C,H,W), already normalised with (mean, std). Returns an augmented copy. The
    random draws come from `generator` on its own device (one on the batch's device keeps a GPU
    step free of host work and copies)."""
    if not cfg.active:
        return x
    n, dev = x.shape[0], x.device

    def rand(*shape: int) -> torch.Tensor:
        where = generator.device if generator is not None else dev
        return torch.rand(*shape, generator=generator, device=where).to(dev)

    if cfg.photo:
        # degradations happen to the picture before the detector crops it, so before the warp,
        # and in pixel values (0..1), where gamma, noise and JPEG mean what they say
        x = (degrade_photo(x * std + mean, cfg, rand) - mean) / std

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


# ----------------------------------------------------------------------------- real-photo degradations

# The JPEG standard's luminance quantisation table (ITU-T T.81, Annex K).
_JPEG_Q = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.float32,
)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float32, device=device)
    m = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m


def jpeg_artefacts(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """x: (N,1,H,W) in 0..1, H and W multiples of 8; quality (N,) in 1..100 → the image after a
    JPEG round trip of its luminance (8×8 DCT, the standard table scaled by quality, rounding)."""
    n, c, h, w = x.shape
    d = _dct_matrix(x.device)
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    table = ((_JPEG_Q.to(x.device)[None] * scale[:, None, None] + 50) / 100).floor().clamp(min=1)  # (N,8,8)
    blocks = (x * 255 - 128).reshape(n, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5)
    coef = d @ blocks @ d.T
    t = table[:, None, None, None]
    coef = torch.round(coef / t) * t
    out = (d.T @ coef @ d).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
    return ((out + 128) / 255).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x: (N,1,H,W); sigma (N,) pixels: one separable Gaussian per image, in one grouped conv."""
    n, c, h, w = x.shape
    r = 3
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma[:, None].clamp(min=1e-3) ** 2))
    k = k / k.sum(1, keepdim=True)  # (N, 7)
    y = F.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.repeat_interleave(c, 0)[:, None, :, None], groups=n * c)
    y = F.conv2d(y, k.repeat_interleave(c, 0)[:, None, None, :], groups=n * c)
    return y.reshape(n, c, h, w)


def degrade_photo(x: torch.Tensor, cfg: AugmentConfig, rand) -> torch.Tensor:
    """x: (N,1,H,W) in 0..1. Each degradation picks its own images (probability in cfg), in the
    order a camera and a web upload apply them: light, optics, sensor, scaling, compression."""
    n, _, h, w = x.shape
    dev = x.device

    def pick(p: float) -> torch.Tensor:
        return (rand(n) < p).view(n, 1, 1, 1)

    def span(lo_hi: tuple[float, float]) -> torch.Tensor:
        lo, hi = lo_hi
        return lo + rand(n) * (hi - lo)

    if cfg.photometric > 0:
        gamma = torch.exp((rand(n) * 2 - 1) * math.log(1.6)).view(n, 1, 1, 1)
        contrast = (0.6 + rand(n) * 0.7).view(n, 1, 1, 1)
        bright = ((rand(n) * 2 - 1) * 0.15).view(n, 1, 1, 1)
        # light from one side: a linear ramp across the face in a random direction
        ang = rand(n) * 2 * math.pi
        ys = torch.linspace(-1, 1, h, device=dev).view(1, h, 1)
        xs = torch.linspace(-1, 1, w, device=dev).view(1, 1, w)
        ramp = (torch.cos(ang).view(n, 1, 1) * xs + torch.sin(ang).view(n, 1, 1) * ys)[:, None]
        ramp = ramp * (rand(n) * 0.25).view(n, 1, 1, 1)
        m = x.mean((1, 2, 3), keepdim=True)
        y = ((x.clamp(0, 1) ** gamma - m) * contrast + m + bright + ramp).clamp(0, 1)
        x = torch.where(pick(cfg.photometric), y, x)
    if cfg.blur > 0:
        x = torch.where(pick(cfg.blur), gaussian_blur(x, span(cfg.blur_sigma)), x)
    if cfg.noise > 0:
        where = rand(n)  # drawn for every image, so the stream of draws does not depend on the data
        sd = span(cfg.noise_std).view(n, 1, 1, 1)
        # unit-variance noise from the same seeded uniform stream (a Gaussian would need its own generator call)
        g = (rand(n, 1, h, w) - 0.5) * math.sqrt(12)
        x = torch.where((where < cfg.noise).view(n, 1, 1, 1), (x + g * sd).clamp(0, 1), x)
    if cfg.lowres > 0:
        sides = torch.tensor(cfg.lowres_sides, device=dev)
        side = sides[(rand(n) * len(sides)).long().clamp(max=len(sides) - 1)]
        chosen = pick(cfg.lowres).view(n)
        y = x.clone()
        for s in cfg.lowres_sides:
            sel = chosen & (side == s)
            if sel.any():
                small = F.interpolate(x[sel], size=(s, s), mode="area")
                y[sel] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        x = y
    if cfg.occlude > 0:
        area = (0.1 + rand(n) * 0.2) * h * w
        aspect = torch.exp((rand(n) * 2 - 1) * math.log(2.5))
        eh = (area * aspect).sqrt().clamp(1, h)
        ew = (area / aspect).sqrt().clamp(1, w)
        y0, x0 = rand(n) * (h - eh), rand(n) * (w - ew)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        box = (ys >= y0.view(-1, 1, 1)) & (ys < (y0 + eh).view(-1, 1, 1))
        box = box & (xs >= x0.view(-1, 1, 1)) & (xs < (x0 + ew).view(-1, 1, 1))
        box &= pick(cfg.occlude).view(n, 1, 1)
        x = torch.where(box[:, None], rand(n).view(n, 1, 1, 1), x)
    if cfg.jpeg > 0 and h % 8 == 0 and w % 8 == 0:
        x = torch.where(pick(cfg.jpeg), jpeg_artefacts(x, span(cfg.jpeg_quality)), x)
    return x
