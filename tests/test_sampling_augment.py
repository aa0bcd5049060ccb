"""Inverse-frequency resampling statistics, DDP sharding, class weights, batched augmentation."""

from __future__ import annotations

import torch

from ferlab.data.augment import AugmentConfig, augment_batch
from ferlab.data.sampling import EpochBatchSampler, class_loss_weights, inverse_frequency_weights
from ferlab.labels import NUM_CLASSES

# FER-2013's training counts: angry, disgust, fear, happy, sad, surprise, neutral
COUNTS = [3995, 436, 4097, 7215, 4830, 3171, 4965]
LABELS = torch.repeat_interleave(torch.arange(NUM_CLASSES), torch.tensor(COUNTS))


def test_balanced_epoch_has_equal_class_counts():
    s = EpochBatchSampler(LABELS, 128, balanced=True, seed=1, drop_last=False)
    idx = torch.cat(list(s))
    assert len(idx) == len(LABELS)  # an epoch is as long as the data
    counts = torch.bincount(LABELS[idx], minlength=NUM_CLASSES).float()
    expected = len(LABELS) / NUM_CLASSES
    assert ((counts - expected).abs() / expected).max() < 0.05, counts
    # disgust is over-sampled ~9x, happy under-sampled
    assert counts[1] > 8 * COUNTS[1] and counts[3] < 0.6 * COUNTS[3]


def test_unbalanced_epoch_is_a_permutation_and_epochs_differ():
    s = EpochBatchSampler(LABELS, 100, balanced=False, seed=3, drop_last=False)
    a = torch.cat(list(s))
    assert torch.equal(a.sort().values, torch.arange(len(LABELS)))
    s.set_epoch(1)
    b = torch.cat(list(s))
    assert not torch.equal(a, b)
    s.set_epoch(0)
    assert torch.equal(torch.cat(list(s)), a)  # seeded per epoch: a resumed run sees the same batches


def test_ddp_shards_are_disjoint_and_equal():
    shards = [
        torch.cat(list(EpochBatchSampler(LABELS, 64, balanced=False, seed=0, rank=r, world_size=2, drop_last=False)))
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1])
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_drop_last_and_len():
    s = EpochBatchSampler(torch.zeros(130, dtype=torch.long), 64, balanced=False)
    assert [len(b) for b in s] == [64, 64] and len(s) == 2


def test_weights():
    w = inverse_frequency_weights(LABELS)
    per_class = torch.zeros(NUM_CLASSES, dtype=torch.float64).index_add_(0, LABELS, w)
    assert torch.allclose(per_class, torch.ones(NUM_CLASSES, dtype=torch.float64))
    cw = class_loss_weights(LABELS)
    assert cw.argmax() == 1 and cw.argmin() == 3
    assert torch.isclose((cw * torch.tensor(COUNTS)).sum(), torch.tensor(float(len(LABELS))))


def test_augment_inactive_is_identity_and_flip_is_exact():
    x = torch.randn(8, 1, 48, 48)
    assert augment_batch(x, AugmentConfig()) is x
    g = torch.Generator().manual_seed(0)
    y = augment_batch(x, AugmentConfig(hflip=True), g)
    for a, b in zip(x, y, strict=True):
        assert torch.allclose(b, a, atol=1e-5) or torch.allclose(b, a.flip(-1), atol=1e-5)
    flipped = sum(not torch.allclose(b, a, atol=1e-5) for a, b in zip(x, y, strict=True))
    assert 0 < flipped < 8


def test_augment_full_shapes_seeded_and_erasing():
    x = torch.rand(16, 1, 48, 48) + 1.0  # strictly positive so erased pixels (0) are visible
    cfg = AugmentConfig(hflip=True, rotate=15, translate=0.1, scale=(0.9, 1.2), erase=1.0)
    a = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and torch.equal(a, b)
    assert ((a == 0).flatten(1).any(1)).all()  # every image got an erased box
    assert not torch.allclose(a, x)
