"""`ferlab models` and `ferlab info`: the shipped accuracy and mode, a readable card; `compare` runs
models as shipped."""

from __future__ import annotations

import json

from ferlab.card import DEFAULT_MODEL
from ferlab.cli import build_parser, main


def test_models_lists_the_shipped_accuracy_and_mode(capsys):
    from ferlab.card import read_card

    assert main(["models", "--json"]) == 0
    bundled = {b["name"]: b for b in json.loads(capsys.readouterr().out)["bundled"]}
    from ferlab.card import shipped_tta

    card = read_card(DEFAULT_MODEL)
    m, mode = card["metrics"], shipped_tta(card)
    assert bundled[DEFAULT_MODEL]["tta"] == mode == card["inference"]["tta"]
    assert bundled[DEFAULT_MODEL]["val_accuracy"] == m["val_accuracy_default"]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "(default)" in ln)
    assert f"{m['val_accuracy_default']:.4f} ({m.get('labels', 'original')} labels, as shipped: TTA {mode})" in line
    assert "learned" in line
    # the 8-class model says how to ask for it, and the listing says which option suits which collection
    eight = next(ln for ln in out.splitlines() if ln.split()[0] == "fer-vgg-wide-ferplus8")
    assert (
        "8 classes, with contempt: --classes 8" in eight
        and bundled["fer-vgg-wide-ferplus8"]["classes"][-1] == "contempt"
    )
    other = next(ln for ln in out.splitlines() if ln.startswith("Other collections:"))
    assert "--prior uniform" in other and "--classes 8" in other
    assert main(["info"]) == 0
    prior = next(ln for ln in capsys.readouterr().out.splitlines() if "class prior it learned" in ln)
    assert "films, posed-expression studies) --prior uniform" in prior and "--prior collection" in prior


def test_info_is_a_readable_card_and_compare_runs_models_as_shipped(capsys):
    """`ferlab info` used to dump Python dicts with three accuracies side by side; `ferlab compare`
    evaluated the default with TTA none while `evaluate` ran it as shipped."""
    from ferlab.card import read_card

    assert main(["info", "--model", "fer-vgg-wide"]) == 0
    out = capsys.readouterr().out
    head = read_card("fer-vgg-wide")["metrics"]["headline"]["publictest"]
    # one "as shipped" number per split and n: the measured headline (the bundle-time number is not repeated)
    assert f"FER-2013 PublicTest, original labels, as shipped: {head['accuracy']:.4f} (n={head['n']})" in out
    assert out.count("PublicTest, original labels, as shipped") == 1 and "labels learned: FER-2013's own" in out
    assert "{" not in out and "_path" not in out and ".devdata" not in out
    assert "the checkpoint kept is epoch 68" in out and "82 epochs" in out
    assert main(["info", "--model", "fer-vgg-wide-ferplus"]) == 0
    out = capsys.readouterr().out
    # one number per split: the bundle-time 0.8562 (another CPU) no longer stands beside the headline
    assert out.count("PublicTest, ferplus-majority labels") == 1 and "0.8562" not in out
    assert "labels learned: FER+ vote distributions" in out
    # the card says both PublicTest numbers and FER+ Valid, and what the model is and is not for
    head = read_card("fer-vgg-wide-ferplus")["metrics"]["headline"]
    dedup, valid = head["publictest"]["accuracy_without_train_duplicates"], head["ferplus_valid"]["accuracy"]
    assert f"without the images that repeat a training image: {dedup:.4f}" in out
    assert f"FER+ Valid (FERPlus layout), ferplus-majority labels, as shipped: {valid:.4f}" in out
    assert "not for decisions about people" in out and "EU AI Act" in out and "confidence: the calibrated" in out
    assert build_parser().parse_args(["compare", "x.json", "--out", "o"]).tta == "card"


def test_a_run_selected_on_a_subset_is_not_described_as_publictest():
    """A run trained with --limit-val 200 was described as scoring on FER-2013 PublicTest."""
    from ferlab.catalogue import describe_card
    from ferlab.labels import CLASSES

    card = {
        "name": "my-run",
        "architecture": "cnn-v2.1",
        "classes": list(CLASSES),
        "input": {"size": 48, "mean": 0.5, "std": 0.25},
        "metrics": {"val_accuracy": 0.41},
        "training": {"selection_split": "val (PublicTest)", "config": {"data": {"limit_val": 200}}},
    }
    text = describe_card(card)
    assert "accuracy as shipped: 0.4100 (val (PublicTest), a class-stratified subset of 200 images" in text
    assert "FER-2013 PublicTest" not in text
