"""Checks on the real FER-2013 copy in ../shared/data (skipped, with the reason, where it is absent)."""

from __future__ import annotations

import json

import pytest
from conftest import REAL_DATA

from ferlab.card import DEFAULT_MODEL, read_card
from ferlab.cli import main
from ferlab.tta import tta_mode

pytestmark = [
    pytest.mark.skipif(not REAL_DATA.exists(), reason=f"real FER-2013 not found at {REAL_DATA}"),
    pytest.mark.slow,
]


@pytest.fixture(autouse=True)
def _shared_real_cache(real_data_cache, monkeypatch):
    monkeypatch.setenv("FERLAB_CACHE", str(real_data_cache))


# Training counts as STUDY.md gives them for the Kaggle copy.
STUDY_TRAIN = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "neutral": 4965,
    "sad": 4830,
    "surprise": 3171,
}


def test_summary_matches_the_study(capsys):
    assert main(["data", "summary", str(REAL_DATA), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["splits"]["train"] == STUDY_TRAIN and s["totals"]["train"] == 28709
    assert s["totals"]["val"] == 3589 and s["totals"]["test"] == 0
    assert s["all_black"]["count"] == 12  # as the study measured on the full copy (none in PrivateTest here)
    d = s["duplicates"]
    assert 0 < d["conflicting_label_groups"] <= d["cross_split_groups"] <= d["groups"]
    assert any("no PrivateTest" in n for n in s["notes"])


@pytest.mark.parametrize("model", sorted({DEFAULT_MODEL, "fer-vgg-wide"}))
def test_bundled_int8_models_reproduce_their_cards(model, capsys):
    # The cards' numbers were measured by `ferlab bundle` (or scripts/requantize_bundled.py) on one
    # machine; a fresh evaluation on another CPU must give them again to within a few faces: the int8
    # copies use 7-bit weights, whose integer sums are exact with and without VNNI, but the fp32
    # requantisation between layers may round an activation differently in another CPU's kernels
    # (1 face of 3,186 moved between an AVX2 EPYC and an AVX-512 VNNI Xeon; 8-bit weights moved 55 of 3,589).
    card = read_card(model)
    m = card["metrics"]
    labels = m.get("labels") or "original"
    args = ["evaluate", "--model", model, "--data", str(REAL_DATA), "--split", "val", "--labels", labels, "--json"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert f"n={res['n']}" in m["evaluated_on"]
    # as shipped: with the test-time augmentation, backend and precision the card names
    assert res["tta"] == tta_mode(card["inference"]["tta"])
    assert (res["backend"], res["precision"]) == (card["inference"]["backend"], card["inference"]["precision"])
    assert res["accuracy"] == pytest.approx(m["val_accuracy_default"], abs=3 / res["n"] + 1e-9)
    # the card's per-mode numbers are the network itself: torch, fp32
    assert main([*args[:-1], "--tta", "none", "--backend", "torch", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["accuracy"] == pytest.approx(m["val_accuracy"], abs=1e-6)


def test_bundled_default_evaluates_by_default(capsys):
    assert read_card(None)["name"] == DEFAULT_MODEL
    assert main(["evaluate", "--data", str(REAL_DATA), "--split", "test"]) == 2
    assert "no PrivateTest images" in capsys.readouterr().err
