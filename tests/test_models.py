"""Registry, shapes and parameter counts, checkpoint format and loading errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from torch import nn

from ferlab.card import make_card, read_card
from ferlab.checkpoint import load_model, save_checkpoint
from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.models import available, build, count_parameters, register
from ferlab.models.registry import _REGISTRY


def conv(cin, cout, k=3):
    return cin * cout * k * k + cout


@pytest.mark.parametrize("name", ["cnn-v1", "cnn-v2.1", "cnn-vgg"])
def test_shapes(name):
    m = build(name).eval()
    assert m(torch.zeros(3, 1, 48, 48)).shape == (3, 7)


def test_vgg_avg_head_keeps_the_bundled_size_under_5m_and_rejects_unknown_heads():
    widths = (64, 128, 256, 512)
    m = build("cnn-vgg", widths=widths, head="avg", hidden=256)
    # double 3x3 convs without bias + BN (2 per channel), then FC 512→256→7 on the averaged map
    convs = sum(9 * (cin * c + c * c) + 4 * c for cin, c in zip((1, *widths[:-1]), widths, strict=True))
    assert count_parameters(m) == convs + 512 * 256 + 256 + 256 * 7 + 7 < 5_000_000
    assert m.eval()(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    with pytest.raises(FerlabError, match="head must be 'flatten' or 'avg', not 'max'"):
        build("cnn-vgg", head="max")


def test_parameter_counts_follow_the_study():
    # V1: two convs (32, 64) and one FC from 64x12x12 features
    assert count_parameters(build("cnn-v1")) == conv(1, 32) + conv(32, 64) + 64 * 12 * 12 * 7 + 7
    # V2.1: convs 32/64/128/256, BN after each, 4 pools → 256x3x3, FC 256, FC 7
    convs = conv(1, 32) + conv(32, 64) + conv(64, 128) + conv(128, 256)
    bn = 2 * (32 + 64 + 128 + 256)
    fc = 256 * 9 * 256 + 256 + 256 * 7 + 7
    assert count_parameters(build("cnn-v2.1")) == convs + bn + fc
    layers = [type(m) for m in build("cnn-v2.1")]
    assert layers.count(nn.Conv2d) == 4 and layers.count(nn.BatchNorm2d) == 4 and layers.count(nn.MaxPool2d) == 4
    assert [m.p for m in build("cnn-v2.1") if isinstance(m, nn.Dropout)] == [0.5, 0.5]


def test_register_one_decorated_function():
    @register("test-tiny", "a tiny test model")
    def tiny(width: int = 4) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(48 * 48, width), nn.Linear(width, 7))

    try:
        assert "test-tiny" in [e.name for e in available()]
        assert count_parameters(build("test-tiny", width=2)) == 48 * 48 * 2 + 2 + 2 * 7 + 7
        with pytest.raises(FerlabError, match="has no option"):
            build("test-tiny", depth=3)
    finally:
        del _REGISTRY["test-tiny"]


def test_unknown_architecture_message():
    with pytest.raises(FerlabError, match=r"unknown architecture 'cnn-v9'; registered: cnn-v1, cnn-v2\.1"):
        build("cnn-v9")


def test_checkpoint_roundtrip_card_inside_safetensors(tmp_path):
    m = build("cnn-v2.1", dropout=0.3)
    card = make_card(
        "cnn-v2.1", {"dropout": 0.3}, mean=0.5, std=0.25, params=count_parameters(m), metrics={"val_accuracy": 0.5}
    )
    f = save_checkpoint(m, card, tmp_path / "ck")
    with safe_open(str(f), framework="pt") as sf:
        inside = json.loads(sf.metadata()["ferlab_card"])
    assert inside["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert json.loads((tmp_path / "ck" / "card.json").read_text())["arch_config"] == {"dropout": 0.3}
    m2, card2 = load_model(tmp_path / "ck")
    assert card2["input"] == {"size": 48, "channels": 1, "dtype": "uint8 grayscale", "mean": 0.5, "std": 0.25}
    x = torch.randn(2, 1, 48, 48)
    assert torch.equal(m.eval()(x), m2(x))
    assert not m2.training


def test_a_model_with_a_base_stores_only_the_tensors_that_differ(tmp_path, capsys):
    from ferlab.labels import CLASSES_8

    base, card = load_model("fer-vgg")
    m = build(card["architecture"], **{**card["arch_config"], "num_classes": 8})
    state = base.state_dict()
    last = list(state)[-1].split(".")[0] + "."  # the last layer's tensors' prefix
    m.load_state_dict({k: v for k, v in state.items() if not k.startswith(last)}, strict=False)
    card8 = make_card(
        card["architecture"],
        {**card["arch_config"], "num_classes": 8},
        mean=card["input"]["mean"],
        std=card["input"]["std"],
        params=count_parameters(m),
        classes=CLASSES_8,
    )
    f = save_checkpoint(m, {**card8, "base": "fer-vgg"}, tmp_path / "ck")
    with safe_open(str(f), framework="pt") as sf:
        stored = set(sf.keys())
    assert stored == {last + "weight", last + "bias"}  # the new last layer alone
    m2, card2 = load_model(tmp_path / "ck")
    assert card2["base"] == "fer-vgg" and card2["classes"][-1] == "contempt"
    x = torch.randn(2, 1, 48, 48)
    assert torch.equal(m.eval()(x), m2(x))
    # a base that is itself based on another is refused in one line
    with pytest.raises(FerlabError, match="a base model cannot itself have a base"):
        save_checkpoint(m, {**card8, "base": str(tmp_path / "ck")}, tmp_path / "ck2")


def test_later_measurements_go_to_the_card_record_and_leave_the_weights_file_alone(tmp_path):
    from ferlab.card import read_card
    from ferlab.weights_bundle import add_card_metrics, write_card_record

    m = build("cnn-v2.1")
    card = make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=count_parameters(m), metrics={"val_accuracy": 0.5})
    f = save_checkpoint(m, {**card, "inference": {"tta": "none"}}, tmp_path / "ck")
    weights = f.read_bytes()
    add_card_metrics(str(tmp_path / "ck"), {"stability": {"all": 0.9}})
    later = read_card(tmp_path / "ck")
    assert later["metrics"] == {"val_accuracy": 0.5, "stability": {"all": 0.9}}
    assert f.read_bytes() == weights  # a re-measurement never rewrites the weights
    write_card_record({**later, "inference": {"tta": "flip"}, "classes": ["x"] * 7})
    again = read_card(tmp_path / "ck")
    assert again["inference"]["tta"] == "flip"
    assert again["classes"] == card["classes"]  # what the weights need comes from the weights file only
    # a record left from other weights (another training run's card.json) is not taken
    write_card_record({**later, "created": "2000-01-01T00:00:00+00:00"})
    assert read_card(tmp_path / "ck")["metrics"] == {"val_accuracy": 0.5}
    (tmp_path / "ck" / "card.json").write_text("{not json")
    assert read_card(tmp_path / "ck")["metrics"] == {"val_accuracy": 0.5}


def test_checkpoint_errors(tmp_path, capsys):
    with pytest.raises(FerlabError, match=r"model 'nope' is not a bundled model \(bundled: .*fer-vgg-wide.*\./nope"):
        read_card("nope")
    with pytest.raises(FerlabError, match=r"model './nope' not found: no such checkpoint file or folder"):
        read_card("./nope")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(FerlabError, match="not a readable safetensors checkpoint"):
        read_card(junk)
    # weights of one architecture under another's card
    m = build("cnn-v1")
    card = make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=1)
    save_checkpoint(m, card, tmp_path / "bad")
    with pytest.raises(FerlabError, match=r"weights do not match architecture 'cnn-v2\.1'"):
        load_model(tmp_path / "bad")
    assert main(["info", "--model", str(junk)]) == 2
    assert "not a readable safetensors checkpoint" in capsys.readouterr().err


def test_a_folder_named_like_a_bundled_model_does_not_replace_it(tmp_path, monkeypatch):
    from ferlab.card import BUNDLED_DIR

    m = build("cnn-v2.1")
    save_checkpoint(
        m, make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=1, name="impostor"), tmp_path / "fer-vgg-wide"
    )
    monkeypatch.chdir(tmp_path)
    assert read_card("fer-vgg-wide")["_path"] == str(BUNDLED_DIR / "fer-vgg-wide.safetensors")
    assert read_card("./fer-vgg-wide")["name"] == "impostor"  # a path must look like one


def test_models_cli_json(capsys):
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    by_name = {a["name"]: a for a in out["architectures"]}
    assert by_name["cnn-v2.1"]["parameters"] == count_parameters(build("cnn-v2.1"))
    assert {"cnn-v1", "cnn-v2.1", "vit-scratch", "vit-pretrained", "ensemble"} <= set(by_name)
    # listing never downloads a backbone: its size is described instead
    vp = by_name["vit-pretrained"]
    assert vp["parameters"] is None and "backbone" in vp["parameters_note"]
    assert by_name["vit-scratch"]["parameters"] == count_parameters(build("vit-scratch"))
