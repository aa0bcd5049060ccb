"""Typed configuration: sections are dataclasses checked on load, UNSET is "not given", None is null,
and the flag → key map is written once."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from conftest import ROOT, make_kaggle

from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.training.config import DEFAULTS, UNSET, TrainSection, load_config, overrides_from_flags

CNN = ROOT / "configs" / "cnn_v2_1.yaml"


def test_defaults_come_from_the_section_dataclasses():
    assert set(DEFAULTS["train"]) == {f.name for f in dataclasses.fields(TrainSection)}
    assert DEFAULTS["train"]["epochs"] == TrainSection().epochs


def test_unset_leaves_a_value_none_sets_null_and_free_form_keys_nest():
    base = load_config(ROOT / "configs" / "vit_v1_6_7.yaml")
    assert base["train"]["freeze"] is not None
    same = load_config(ROOT / "configs" / "vit_v1_6_7.yaml", {"train.freeze": UNSET, "train.lr": UNSET})
    assert same == base
    cleared = load_config(ROOT / "configs" / "vit_v1_6_7.yaml", {"train.freeze": None, "model.config.image_size": 28})
    assert cleared["train"]["freeze"] is None and cleared["model"]["config"]["image_size"] == 28
    assert load_config(CNN, {"train.lr": "2e-3"})["train"]["lr"] == 0.002  # YAML 1.1 reads 2e-3 as a string


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train.batch_size": 0}, "train.batch_size must be at least 1, got 0"),
        ({"train.scheduler": "step"}, "unknown train.scheduler 'step' (use none, cosine, plateau)"),
        ({"train.augment": {"flip": True}}, "train.augment: unknown key 'flip' (known: hflip,"),
        ({"data.balanced": "yes"}, "data.balanced must be true or false, got 'yes'"),
        ({"train.epochs": None}, "train.epochs must be a whole number, got null"),
        ({"train.nope": 1}, "setting train.nope: unknown key 'nope'"),
    ],
)
def test_wrong_settings_are_one_line_errors(overrides, message):
    with pytest.raises(FerlabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(CNN, overrides)


def test_flags_map_to_keys_once():
    args = argparse.Namespace(epochs=3, lr=None, data="d.zip", limit_val=7, name=None)
    assert overrides_from_flags(args) == {"train.epochs": 3, "data.path": "d.zip", "data.limit_val": 7}


def test_train_honours_ferlab_data(tmp_path, monkeypatch, capsys):
    data = make_kaggle(tmp_path / "fer", {"train": 3, "val": 1})
    monkeypatch.setenv("FERLAB_DATA", str(data))
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--batch-size", "8", "--out", str(run), "--no-progress"]) == 0
    assert f"data:\n  path: {data}" in (run / "config.yaml").read_text()


def test_ferlab_data_reaches_train_config_and_sweep(monkeypatch, tmp_path):
    """$FERLAB_DATA used to be ignored by `train --config` and by `sweep`: a config that names no
    data reads it; a config that names its data keeps it; a --data flag beats both."""
    from ferlab.training.config import load_config

    monkeypatch.setenv("FERLAB_DATA", "/data/fer2013.csv")
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: x\nmodel: {architecture: cnn-v2.1}\n")
    named = tmp_path / "named.yaml"
    named.write_text("name: x\nmodel: {architecture: cnn-v2.1}\ndata: {path: /mine.zip}\n")
    assert load_config(str(plain), {})["data"]["path"] == "/data/fer2013.csv"
    assert load_config(str(named), {})["data"]["path"] == "/mine.zip"
    assert load_config(str(plain), {"data.path": "/flag.zip"})["data"]["path"] == "/flag.zip"
    seen = []

    def fake_train(cfg, run, **kw):  # a one-epoch run, without training: only the data path matters here
        seen.append(cfg["data"]["path"])
        run.path.mkdir(parents=True)
        run.metrics_file.write_text("epoch,train_loss,val_loss\n1,1.0,1.1\n")
        return run

    monkeypatch.setattr("ferlab.training.sweep.train", fake_train)
    from ferlab.training.sweep import lr_sweep

    assert lr_sweep(str(plain), [0.1], tmp_path / "sweep", progress=False).is_file()
    assert seen == ["/data/fer2013.csv"]


def test_a_shipped_config_is_found_by_name_and_an_unknown_one_lists_them(tmp_path, monkeypatch, capsys):
    """`ferlab train --config cnn_v1` after a pip install (no configs/ folder at hand)."""
    monkeypatch.chdir(tmp_path)
    assert load_config("cnn_v1")["name"] == "cnn_v1" == load_config("cnn_v1.yaml")["name"]
    assert main(["train", "--config", "cnn_v9"]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "cnn_v9: config file not found; the shipped configs, by name: cnn_v1, cnn_v2_1" in err
    )
