"""The real-photo degradations: each does what it says, only to the images it picks, reproducibly."""

from __future__ import annotations

import pytest
import torch
from conftest import face

from ferlab.data.augment import AugmentConfig, augment_batch, gaussian_blur, jpeg_artefacts

LEVERS = ("blur", "jpeg", "noise", "lowres", "photometric", "occlude")


def _batch(n: int = 8) -> torch.Tensor:
    x = torch.stack([torch.from_numpy(face(i % 7, i)) for i in range(n)]).float()[:, None] / 255
    return (x - 0.5) / 0.25


def test_jpeg_error_grows_as_quality_falls():
    x = _batch() * 0.25 + 0.5
    err = {q: (jpeg_artefacts(x, torch.full((len(x),), float(q))) - x).abs().mean().item() for q in (95, 50, 10)}
    assert err[95] < err[50] < err[10]
    assert err[95] < 0.02  # near-lossless at high quality: the DCT round trip itself is exact


def test_blur_removes_high_frequencies_and_keeps_the_mean():
    x = _batch() * 0.25 + 0.5
    y = gaussian_blur(x, torch.full((len(x),), 1.5))
    tv = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean()
    assert tv(y) < 0.6 * tv(x)
    assert torch.allclose(y.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=0.01)


@pytest.mark.parametrize("lever", LEVERS)
def test_each_lever_changes_images_only_when_on_and_is_seeded(lever):
    x = _batch()
    off = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(0))
    assert torch.equal(off, x)
    cfg = AugmentConfig(**{lever: 1.0})
    a = augment_batch(x, cfg, torch.Generator().manual_seed(1))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    changed = (a - x).flatten(1).abs().amax(1) > 1e-3
    assert changed.all(), f"{lever} at probability 1 left {int((~changed).sum())} images unchanged"
    px = a * 0.25 + 0.5
    assert px.min() >= -1e-5 and px.max() <= 1 + 1e-5  # still valid pixel values


def test_probability_picks_a_share_of_the_batch():
    x = _batch(400)
    a = augment_batch(x, AugmentConfig(blur=0.3), torch.Generator().manual_seed(2))
    share = ((a - x).flatten(1).abs().amax(1) > 1e-4).float().mean().item()
    assert 0.2 < share < 0.4
