"""The ViT arm on tiny configs built locally (no downloads): scratch ViT, pretrained backbone from
a folder, MLP heads, freezing and gradual unfreezing, the feature cache, the offline error."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from conftest import make_kaggle
from torch import nn

from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.models import build, count_parameters
from ferlab.models.feature_cache import bytes_per_image, cache_key, cached_hidden
from ferlab.models.vit import transformer_blocks
from ferlab.preprocess import to_model_input
from ferlab.training.callbacks import GradualUnfreeze


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A 4-block DINOv2 saved as a Hugging Face folder, like ../shared/models/dinov2-small."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    cfg = Dinov2Config(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, patch_size=8, image_size=32
    )
    d = tmp_path_factory.mktemp("hf") / "tiny-dinov2"
    Dinov2Model(cfg).save_pretrained(d)
    return d


def vit(tiny_backbone, **kw):
    return build("vit-pretrained", **{"backbone": str(tiny_backbone), "image_size": 32, **kw})


def test_vit_scratch_shapes_and_depth():
    one = build("vit-scratch")  # the study's single encoder level
    assert len(transformer_blocks(one.vit.vit)) == 1
    assert one(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    deep = build("vit-scratch", patch_size=4, depth=4, hidden_size=64, heads=4, mlp_dim=128)
    assert len(transformer_blocks(deep.vit.vit)) == 4 and deep(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    with pytest.raises(FerlabError, match="patch_size 5 does not divide 48"):
        build("vit-scratch", patch_size=5)


@pytest.mark.parametrize("layers", [3, 5])
def test_head_depth(tiny_backbone, layers):
    m = vit(tiny_backbone, head_layers=layers, head_hidden=16, head_dropout=0.2)
    linears = [x for x in m.head if isinstance(x, nn.Linear)]
    assert len(linears) == layers and linears[0].in_features == 64 and linears[-1].out_features == 7
    assert sum(isinstance(x, nn.Dropout) for x in m.head) == layers - 1
    assert m(torch.randn(3, 1, 48, 48)).shape == (3, 7)


def test_rebuilds_from_card_config_without_the_folder(tiny_backbone):
    m = vit(tiny_backbone, head_layers=3).eval()
    cfg = m.card_config()
    assert cfg["pretrained"] is False and cfg["backbone_config"]["model_type"] == "dinov2"
    m2 = build("vit-pretrained", **json.loads(json.dumps(cfg))).eval()
    m2.load_state_dict(m.state_dict())
    x = torch.randn(2, 1, 48, 48)
    assert torch.allclose(m(x), m2(x), atol=1e-6)


def test_freezing_really_freezes(tiny_backbone):
    m = vit(tiny_backbone, head_layers=3)
    m.set_trainable_blocks(1)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert all(n.startswith(("head.", "backbone.encoder.layer.3.", "backbone.layernorm.")) for n in trainable)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(m(torch.randn(4, 1, 48, 48)), torch.tensor([0, 1, 2, 3])).backward()
        opt.step()
    for n, p in m.named_parameters():
        if n in trainable:
            continue
        assert p.grad is None, n
        assert torch.equal(p, before[n]), n
    assert not torch.equal(m.head[0].weight, before["head.0.weight"])
    assert not torch.equal(m.blocks[3].mlp.fc1.weight, before["backbone.encoder.layer.3.mlp.fc1.weight"])


class _FakeTrainer:
    def __init__(self, epoch, val_loss=1.0):
        self.current_epoch = epoch
        self.callback_metrics = {"val_loss": torch.tensor(val_loss)}
        self.sanity_checking = False


class _Holder(L.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.model = model


def _trainable_blocks(m):
    return sum(all(p.requires_grad for p in b.parameters()) for b in m.blocks)


def test_schedule_unfreezes_at_the_right_epoch(tiny_backbone):
    m = vit(tiny_backbone)
    cb = GradualUnfreeze(start=0, schedule={2: 1, 4: 3})
    seen = []
    for epoch in range(6):
        cb.on_train_epoch_start(_FakeTrainer(epoch), _Holder(m))
        seen.append(_trainable_blocks(m))
    assert seen == [0, 0, 1, 1, 3, 3]
    assert all(p.requires_grad for p in m.head.parameters())


def test_plateau_unfreezes_when_val_loss_stalls(tiny_backbone):
    m = vit(tiny_backbone)
    cb = GradualUnfreeze(start=0, plateau_patience=2, step=2)
    seen = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.93, 0.8, 0.85, 0.9]):
        cb.on_train_epoch_start(_FakeTrainer(epoch), _Holder(m))
        seen.append(_trainable_blocks(m))
        cb.on_validation_end(_FakeTrainer(epoch, loss), _Holder(m))
    assert seen == [0, 0, 0, 0, 2, 2, 2]
    state = cb.state_dict()
    cb2 = GradualUnfreeze(plateau_patience=2)
    cb2.load_state_dict(state)
    assert cb2.trainable == cb.trainable


def test_feature_cache_hit_miss_invalidation(tiny_backbone, tmp_path):
    m = vit(tiny_backbone).eval()
    imgs = torch.randint(0, 256, (6, 48, 48), dtype=torch.uint8)
    h, seconds = cached_hidden(m, imgs, 3, tmp_path, progress=False)
    assert seconds is not None and h.shape == (6, 17, 32)  # built, and how long it took
    h2, seconds = cached_hidden(m, imgs, 3, tmp_path, progress=False)
    assert seconds is None and torch.equal(h, h2)  # read back
    assert bytes_per_image(m, 3) * 6 == h.numel() * h.element_size()
    with torch.no_grad():  # the cached path gives what the full model gives
        assert torch.allclose(m.forward_from(h.float(), 3), m(to_model_input(imgs)), atol=1e-2)
    other = imgs.clone()
    other[0, 0, 0] ^= 1
    keys = {cache_key(m, imgs, 3), cache_key(m, other, 3), cache_key(m, imgs, 2)}
    m2 = vit(tiny_backbone, image_size=40)
    keys.add(cache_key(m2, imgs, 3))
    m3 = vit(tiny_backbone)
    with torch.no_grad():  # another backbone of the same shape: other weights
        next(m3.backbone.parameters()).add_(0.01)
    keys.add(cache_key(m3, imgs, 3))
    assert len(keys) == 5  # data, block index, resolution and backbone weights each change the key
    assert cached_hidden(m, other, 3, tmp_path, progress=False)[1] is not None
    top, _ = cached_hidden(m, imgs, 4, tmp_path, progress=False)
    # all blocks frozen: pooled features, MLP-speed training
    assert top.shape == (6, 64) and bytes_per_image(m, 4) == 64 * 4
    m.train()
    cached_hidden(m, other, 1, tmp_path, progress=False)
    assert all(mod.training for mod in m.modules())  # building the cache leaves dropout on for training


def test_missing_model_offline_message(capsys):
    with pytest.raises(FerlabError) as e:
        build("vit-pretrained", backbone="google/vit-base-patch16-224")
    msg = str(e.value)
    assert "hub model 'google/vit-base-patch16-224'" in msg and "local Hugging Face folder" in msg
    with pytest.raises(FerlabError, match=r"backbone folder .*nowhere does not exist"):
        build("vit-pretrained", backbone="./nowhere")


def _cached_vit_config(tmp_path, tiny_backbone, augment: str = "") -> str:
    cfg = tmp_path / "vit.yaml"
    cfg.write_text(f"""
name: tiny_vit
model:
  architecture: vit-pretrained
  config: {{backbone: "{tiny_backbone}", image_size: 32, head_layers: 3, head_hidden: 16}}
train:
  epochs: 3
  batch_size: 8
  lr: 0.001
  backbone_lr: 0.0001
  freeze: {{start: 0, schedule: {{1: 1}}}}
  feature_cache: true
  {augment}
""")
    return str(cfg)


def test_mirror_images_cached_beside_the_faces_and_each_step_draws_one(tiny_backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("FERLAB_CACHE", str(tmp_path / "cache"))
    data = make_kaggle(tmp_path / "fer", {"train": 6, "val": 2})
    cfg = _cached_vit_config(tmp_path, tiny_backbone, "augment: {hflip: true}")
    run = tmp_path / "run"
    assert main(["train", "--config", cfg, "--data", str(data), "--out", str(run), "--no-progress"]) == 0
    record = json.loads((run / "feature_cache.json").read_text())
    assert record["hflip"] and record["block"] == 3 and record["resolution"] == 32
    train, val = record["splits"]["train"], record["splits"]["val"]
    assert train["views"] == 2 and val["views"] == 1  # mirror images for training only
    assert train["bytes"] == 2 * train["images"] * 17 * 32 * 2  # fp16 tokens of both views
    assert all(s is not None for s in train["build_seconds"])
    assert len(list((tmp_path / "cache" / "features").glob("*.safetensors"))) == 3
    # a second run reads all three back
    assert main(["train", "--config", cfg, "--data", str(data), "--out", str(tmp_path / "run2"), "--no-progress"]) == 0
    again = json.loads((tmp_path / "run2" / "feature_cache.json").read_text())
    assert again["splits"]["train"]["build_seconds"] == [None, None]

    from ferlab.training.module import FerModule

    module = FerModule("vit-pretrained", {"backbone": str(tiny_backbone), "image_size": 32}, feature_start=3)
    face, mirror = torch.zeros(64, 17, 32), torch.ones(64, 17, 32)
    x, _ = module.on_after_batch_transfer((torch.stack([face, mirror], 1), torch.zeros(64, dtype=torch.long)), 0)
    drawn = x.flatten(1).mean(1)
    assert x.shape == (64, 17, 32) and set(drawn.tolist()) == {0.0, 1.0}  # each sample one whole view, both seen


def test_a_feature_cache_too_big_for_the_disk_is_refused_before_any_work(tiny_backbone, tmp_path, monkeypatch, capsys):
    import shutil

    monkeypatch.setenv("FERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    data = make_kaggle(tmp_path / "fer", {"train": 6, "val": 2})
    cfg = _cached_vit_config(tmp_path, tiny_backbone, "augment: {hflip: true}")
    assert main(["train", "--config", cfg, "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "feature cache needs 106.6 kB and the disk has 1.0 kB free" in err, err
    assert (2 * 6 * 7 + 2 * 7) * 17 * 32 * 2 == 106_624  # faces and mirrors of 6 per class, val faces: fp16 tokens
    assert "FERLAB_CACHE" in err and str(tmp_path / "cache" / "features") in err
    assert not list((tmp_path / "cache" / "features").glob("*"))


def test_a_feature_cache_refuses_augmentation_other_than_the_mirror(tiny_backbone, tmp_path, capsys):
    data = make_kaggle(tmp_path / "fer", {"train": 6, "val": 2})
    cfg = _cached_vit_config(tmp_path, tiny_backbone, "augment: {hflip: true, rotate: 10}")
    assert main(["train", "--config", cfg, "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "train.feature_cache allows only augment.hflip" in capsys.readouterr().err


def test_train_with_freeze_and_feature_cache(tiny_backbone, tmp_path):
    data = make_kaggle(tmp_path / "fer", {"train": 6, "val": 2})
    cfg = _cached_vit_config(tmp_path, tiny_backbone)
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--data", str(data), "--out", str(run), "--no-progress"]) == 0
    card = json.loads((run / "best" / "card.json").read_text())
    assert card["architecture"] == "vit-pretrained" and card["arch_config"]["backbone_config"]
    # the saved model is whole (backbone + head): it evaluates on images like any model
    assert main(["evaluate", "--model", str(run), "--data", str(data), "--json"]) == 0
    assert count_parameters(build("vit-pretrained", **card["arch_config"])) > 0


def test_grad_cam_on_vits(tiny_backbone):
    from ferlab.inference.explain import grad_cam

    torch.manual_seed(0)
    card = {"input": {"mean": 0.5, "std": 0.25}}
    faces = torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8).numpy()
    for model in (vit(tiny_backbone).eval(), build("vit-scratch").eval()):
        maps, probs = grad_cam(model, card, faces)
        assert maps.shape == (3, 48, 48) and probs.shape == (3, 7)
        assert maps.min() >= 0 and maps.max() <= 1 + 1e-6
        # each face's map says something: normalised to peak at 1, and not flat
        peaks = maps.reshape(3, -1).max(1)
        assert np.allclose(peaks, 1.0, atol=1e-5) and (maps.reshape(3, -1).std(1) > 0.01).all()


@pytest.mark.slow
def test_a_killed_stage_of_the_cached_vit_resumes_where_it_stopped(tiny_backbone, tmp_path):
    """Gradual unfreezing on cached tokens with mirror images, killed in its second stage: the
    resumed run reads the cache back and ends with the weights of a run never interrupted."""
    import csv
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT
    from safetensors.torch import load_file

    data = make_kaggle(tmp_path / "fer", {"train": 6, "val": 2})
    cfg_file = tmp_path / "six.yaml"
    cfg = _cached_vit_config(tmp_path, tiny_backbone, "augment: {hflip: true}")
    cfg_file.write_text(Path(cfg).read_text().replace("epochs: 3", "epochs: 6"))
    env = {**os.environ, "FERLAB_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    args = lambda out: ["train", "--config", str(cfg_file), "--data", str(data), "--out", str(out), "--no-progress"]
    os.environ["FERLAB_CACHE"] = env["FERLAB_CACHE"]
    try:
        assert main(args(tmp_path / "ref")) == 0
        run = tmp_path / "killed"
        proc = subprocess.Popen([sys.executable, "-m", "ferlab.cli", *args(run)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        rows = lambda: list(csv.DictReader((run / "metrics.csv").open())) if (run / "metrics.csv").exists() else []
        deadline = time.time() + 120
        while time.time() < deadline and len(rows()) < 3:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 3 <= len(rows()) < 6, "the run should have been killed in its second stage"
        assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    finally:
        os.environ.pop("FERLAB_CACHE")
    assert [int(r["epoch"]) for r in rows()] == list(range(1, 7))
    assert json.loads((run / "feature_cache.json").read_text())["splits"]["train"]["build_seconds"] == [None, None]
    wa, wb = load_file(tmp_path / "ref" / "last" / "model.safetensors"), load_file(run / "last" / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "the resumed run diverged from the uninterrupted one"
