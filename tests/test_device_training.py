"""The device-resident training path (`data.on_device`), checked on the CPU: the on-device
augmentation does what the reference augmentation does, the sampler draws what it should, and a
short run lands in the same accuracy band as the host path."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from conftest import ROOT, make_kaggle

from ferlab.cli import main
from ferlab.data.augment import AugmentConfig, affine_warp, augment_batch
from ferlab.data.datamodule import DeviceBatches
from ferlab.data.fer2013 import Split
from ferlab.data.sampling import EpochBatchSampler
from ferlab.labels import NUM_CLASSES

DEVICE = torch.device("cpu")  # the same code runs on a GPU: the device is a parameter


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device=DEVICE).manual_seed(seed)


def test_flip_is_a_flip():
    x = torch.rand(64, 1, 48, 48, device=DEVICE)
    out = augment_batch(x, AugmentConfig(hflip=True), _gen(1))
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    assert bool((mirrored | same).all())  # every image is either mirrored exactly or untouched
    assert 10 < int(mirrored.sum()) < 54  # about half are mirrored


def test_a_known_affine_moves_a_known_pixel():
    x = torch.zeros(2, 1, 48, 48)
    x[:, 0, 10, 30] = 1.0
    one = torch.ones(2)
    # 90° rotation: the pixel at row 10, column 30 lands at row 47-30=17, column 10
    out = affine_warp(x, one * math.pi / 2, one, one, torch.zeros(2, 2))
    assert divmod(int(out[0, 0].argmax()), 48) == (17, 10)
    # a shift of 4 pixels (grid units: 2 = the whole side) moves it 4 columns left
    out = affine_warp(x, 0 * one, one, one, torch.tensor([[2 * 4 / 48, 0.0]] * 2))
    assert divmod(int(out[0, 0].argmax()), 48) == (10, 26)
    # zoom 2 (crops in) doubles the distance from the centre (23.5): row 20 → 16.5, column 30 → 36.5
    x = torch.zeros(2, 1, 48, 48)
    x[:, 0, 20, 30] = 1.0
    out = affine_warp(x, 0 * one, 2 * one, one, torch.zeros(2, 2))
    r, c = divmod(int(out[0, 0].argmax()), 48)
    assert r in (16, 17) and c in (36, 37)


def test_erasing_covers_the_configured_fraction():
    x = torch.ones(256, 1, 48, 48)
    out = augment_batch(x, AugmentConfig(erase=1.0, erase_area=(0.1, 0.1)), _gen(2))
    erased = (out == 0).float().mean((1, 2, 3))
    assert 0.07 < float(erased.mean()) < 0.13 and float(erased.min()) > 0.03
    half = augment_batch(x, AugmentConfig(erase=0.5, erase_area=(0.1, 0.1)), _gen(3))
    hit = ((half == 0).flatten(1).any(1)).float().mean()
    assert 0.35 < float(hit) < 0.65  # the probability of erasing is honoured


def test_device_draws_are_reproducible_and_differ_by_seed():
    x = torch.rand(16, 1, 48, 48)
    cfg = AugmentConfig(hflip=True, rotate=15, translate=0.1, scale=(0.9, 1.1), erase=0.5)
    assert torch.equal(augment_batch(x, cfg, _gen(5)), augment_batch(x, cfg, _gen(5)))
    assert not torch.equal(augment_batch(x, cfg, _gen(5)), augment_batch(x, cfg, _gen(6)))


def test_sampler_on_device_draws_each_index_once_per_epoch():
    labels = torch.arange(700) % NUM_CLASSES
    s = EpochBatchSampler(labels, 64, balanced=False, seed=1, drop_last=False, device=DEVICE)
    first = torch.cat(list(s))
    assert first.device == DEVICE and torch.equal(first.sort().values, torch.arange(700))
    s.set_epoch(1)
    assert not torch.equal(torch.cat(list(s)), first)
    shards = [
        torch.cat(list(EpochBatchSampler(labels, 50, balanced=False, rank=r, world_size=2, device=DEVICE)))
        for r in (0, 1)
    ]
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_balanced_sampler_on_device_draws_classes_equally():
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate([4000, 400, 1000, 7000, 2000, 1500, 3000])])
    idx = torch.cat(list(EpochBatchSampler(labels, 128, balanced=True, seed=0, device=DEVICE)))
    counts = torch.bincount(labels[idx], minlength=NUM_CLASSES).float()
    assert float(counts.max() / counts.min()) < 1.15


def test_device_batches_are_gathered_on_the_device_and_follow_the_epoch():
    images = torch.randint(0, 255, (300, 48, 48), dtype=torch.uint8)
    labels = torch.arange(300) % NUM_CLASSES
    split = Split(images, labels, [f"img{i}" for i in range(300)])
    batches = DeviceBatches(split, None, EpochBatchSampler(labels, 32, balanced=False, device=DEVICE))
    assert len(batches) == 300 // 32
    x, _ = next(iter(batches))
    assert x.device == DEVICE and x.dtype == torch.uint8 and x.shape == (32, 48, 48)
    assert all(
        torch.equal(x[i], images[int(torch.nonzero(images.flatten(1).eq(x[i].flatten()).all(1))[0])]) for i in range(3)
    )
    epoch0 = [b[1] for b in batches]
    batches.sampler.set_epoch(1)  # what Lightning calls each epoch
    assert not all(torch.equal(a, b[1]) for a, b in zip(epoch0, batches, strict=True))


def _best_acc(run) -> float:
    with (run / "metrics.csv").open() as fh:
        return max(float(r["val_acc"]) for r in csv.DictReader(fh))


@pytest.mark.slow
def test_a_short_run_on_device_lands_in_the_host_paths_band(tmp_path):
    data = make_kaggle(tmp_path / "fer", {"train": 40, "val": 12})
    accs = {}
    for flag in ([], ["--on-device"]):
        run = tmp_path / ("dev" if flag else "host")
        args = ["train", "--config", str(ROOT / "configs" / "cnn_v2_1.yaml"), "--data", str(data), "--out", str(run)]
        args += ["--epochs", "6", "--batch-size", "32", "--no-progress", "--seed", "0", *flag]
        assert main(args) == 0
        accs[bool(flag)] = _best_acc(run)
    assert accs[True] > 0.5 and accs[False] > 0.5  # both learn the synthetic classes (chance 0.14)
    assert abs(accs[True] - accs[False]) < 0.2, accs


REAL = ROOT.parent / "shared" / "data" / "fer2013-no-private.zip"
DINO = ROOT.parent / "shared" / "models" / "dinov2-small"


@pytest.mark.slow
@pytest.mark.skipif(
    not (REAL.exists() and DINO.exists()), reason="needs ../shared/data and ../shared/models/dinov2-small"
)
def test_gpu_window_script_dry_runs_end_to_end_on_the_cpu(tmp_path):
    import json
    import os
    import subprocess

    out = tmp_path / "window"
    env = dict(os.environ, DRY_RUN="1", OUT=str(out), DATA=str(REAL), SEEDS="0 1")
    r = subprocess.run(
        ["bash", "scripts/gpu_window.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert "recipe: 2 seed(s) side by side" in r.stdout
    res = json.loads((out / "window.json").read_text())
    assert set(res["recipe"]) == {"recipe_s0", "recipe_s1"}
    assert all(v["n"] == 3589 and 0 < v["accuracy"] <= 1 for v in res["recipe"].values())
    assert res["ferplus"]["labels"] == "ferplus-majority" and res["ferplus"]["n"] == 3186  # FER+ PublicTest
    assert (out / "ferplus" / "checkpoints" / "last.ckpt").is_file()
    assert res["study"]["study_vit_val_accuracy"] == 0.6634 and len(res["study"]["val_accuracy"]) >= 7
    for seed in (0, 1):  # resumable state and weights for the next window
        assert (out / f"recipe_s{seed}" / "checkpoints" / "last.ckpt").is_file()
        assert (out / f"recipe_s{seed}" / "best" / "model.safetensors").is_file()
    assert (out / "reproduce-full" / "report.md").is_file()
    cfg = (out / "recipe_s0" / "config.yaml").read_text()
    assert "on_device: true" in cfg
