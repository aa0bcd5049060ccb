"""`ferlab bundle`: a trained checkpoint evaluated and stored as a named model, as it will ship."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferlab.cli import main
from ferlab.inference.recognizer import Recognizer


@pytest.mark.slow
def test_bundle_evaluates_quantises_and_ships_a_named_model(ckpt, kaggle_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "models"
    monkeypatch.setenv("FERLAB_MODELS", str(out))
    args = ["bundle", str(ckpt), "--name", "tiny", "--data", str(kaggle_dir), "--out", str(out)]
    assert main([*args, "--int8", "--backend-default", "onnxruntime", "--tta-default", "flip"]) == 0
    assert f"bundled {ckpt} as tiny" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"tiny.safetensors", "tiny.json", "tiny.int8.onnx"}
    card = json.loads((out / "tiny.json").read_text())
    assert card["name"] == "tiny"
    assert card["inference"]["backend"] == "onnxruntime" and card["inference"]["precision"] == "int8"
    assert card["inference"]["tta"] == "flip" and card["inference"]["onnx_int8"] == "tiny.int8.onnx"
    m = card["metrics"]
    assert set(m["val_accuracy_by_tta"]) == {"none", "flip", "zoomflip", "multi"} and m["tta_passes"] == 2
    assert "tta_default" not in m and m["evaluated_on"].endswith("n=28")  # 4 PublicTest faces per class
    rec = Recognizer("tiny")  # found by name in the user's models folder, run as the card ships it
    assert (rec.backend, rec.precision, rec.tta) == ("onnxruntime", "int8", "flip")


def test_bundle_writes_to_the_users_models_folder_and_names_find_it(ckpt, tmp_path, monkeypatch, capsys):
    """`ferlab bundle` no longer writes into the installed package: into $FERLAB_MODELS (default
    ~/.local/share/ferlab/models), where a bare name finds it."""
    import shutil

    from ferlab.card import resolve

    monkeypatch.setenv("FERLAB_MODELS", str(tmp_path / "models"))
    seen = {}

    def fake_bundle(source, name, *, out_dir, **kw):
        seen["out_dir"] = out_dir
        shutil.copy(Path(ckpt) / "model.safetensors", out_dir / f"{name}.safetensors")
        return out_dir / f"{name}.safetensors"

    monkeypatch.setattr("ferlab.weights_bundle.bundle", fake_bundle)
    assert main(["bundle", str(ckpt), "--name", "my-model"]) == 0
    out = capsys.readouterr().out
    assert seen["out_dir"] == tmp_path / "models" and "--model my-model" in out
    assert resolve("my-model") == tmp_path / "models" / "my-model.safetensors"
    assert main(["models", "--json"]) == 0
    mine = {b["name"]: b for b in json.loads(capsys.readouterr().out)["bundled"]}["my-model"]
    assert mine["yours"] is True
