"""`ferlab sweep`, `ferlab ensemble` and `ferlab reproduce --budget smoke`, end to end on tiny data."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ROOT, make_kaggle
from test_vit import tiny_backbone  # noqa: F401  (fixture)

from ferlab.checkpoint import load_model
from ferlab.cli import main
from ferlab.models.ensemble import Ensemble, fit_weights
from ferlab.preprocess import to_model_input

FIGURES = [
    "fig1_class_distribution.png",
    "fig3_cnn_loss_curves.png",
    "fig4_lr_sweep.png",
    "fig5_freeze.png",
    "fig6_confusion_vit.png",
    "fig8_per_class.png",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_kaggle(tmp_path_factory.mktemp("d") / "fer", {"train": 20, "val": 10})


def test_ensemble_arithmetic_and_checkpoint(data, tmp_path, capsys):
    runs = []
    for seed in (1, 2):
        r = tmp_path / f"r{seed}"
        assert (
            main(
                [
                    "train",
                    "--config",
                    str(ROOT / "configs" / "cnn_v1.yaml"),
                    "--data",
                    str(data),
                    "--out",
                    str(r),
                    "--epochs",
                    "1",
                    "--seed",
                    str(seed),
                    "--no-progress",
                ]
            )
            == 0
        )
        runs.append(r)
    out = tmp_path / "ens"
    assert main(["ensemble", str(runs[0]), str(runs[1]), "--out", str(out), "--fit-weights", "--data", str(data)]) == 0
    ens, card = load_model(out)
    assert card["architecture"] == "ensemble" and len(card["arch_config"]["members"]) == 2
    w = card["arch_config"]["weights"]
    assert sum(w) == pytest.approx(1.0) and all(x >= 0 for x in w)
    m1, _ = load_model(runs[0])
    m2, _ = load_model(runs[1])
    x = to_model_input(torch.randint(0, 256, (5, 48, 48), dtype=torch.uint8))
    with torch.no_grad():
        expected = w[0] * m1(x).softmax(1) + w[1] * m2(x).softmax(1)
        assert torch.allclose(ens(x).softmax(1), expected, atol=1e-5)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(data), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["architecture"] == "ensemble" and res["n"] == 70


def test_fit_weights_prefers_the_better_member():
    labels = torch.arange(7).repeat(20)
    good = torch.nn.functional.one_hot(labels, 7).float() * 0.9 + 0.1 / 7
    bad = torch.full((140, 7), 1 / 7)
    w = fit_weights(torch.stack([bad, good]), labels)
    assert w[1] > 0.9
    e = Ensemble([{"architecture": "cnn-v1", "mean": 0.5, "std": 0.25}] * 2, [1, 3])
    assert e.weights.tolist() == pytest.approx([0.25, 0.75])


def test_sweep_makes_one_run_per_lr_and_figure(data, tmp_path):
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "--config",
        str(ROOT / "configs" / "cnn_v1.yaml"),
        "--lr",
        "1e-2",
        "1e-3",
        "--data",
        str(data),
        "--epochs",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"lr_0.01", "lr_0.001", "fig4_lr_sweep.png"}
    cards = [json.loads((out / d / "best" / "card.json").read_text()) for d in ("lr_0.01", "lr_0.001")]
    assert [c["training"]["config"]["train"]["lr"] for c in cards] == [0.01, 0.001]
    mtime = (out / "lr_0.01" / "metrics.csv").stat().st_mtime_ns
    assert main(args) == 0  # finished runs are reused, not retrained
    assert (out / "lr_0.01" / "metrics.csv").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_reproduce_smoke_writes_every_figure_and_report(data, tiny_backbone, tmp_path):  # noqa: F811
    out = tmp_path / "repro"
    args = [
        "reproduce",
        "--data",
        str(data),
        "--budget",
        "smoke",
        "--out",
        str(out),
        "--backbone",
        str(tiny_backbone),
        "--no-progress",
    ]
    assert main(args) == 0
    for f in FIGURES:
        assert (out / "figures" / f).read_bytes()[:4] == b"\x89PNG", f
    report = (out / "report.md").read_text()
    assert "budget `smoke`" in report and "Test-time augmentation: **off**" in report
    # the smoke numbers are not set beside the study's without saying what they rest on
    assert "Smoke budget: this checks the plumbing, not accuracy" in report and "validation images" in report
    assert "(weights fitted on these same images: optimistic)" in report
    assert "(nothing tuned on val: the honest number)" in report
    assert "| ViT validation accuracy | 0.6634 |" in report and "(vit_stages)" in report
    # how the study's ViT was trained here, stage by stage, and what its cache cost
    assert "| stage | epochs | blocks trained | seconds per epoch (median) |" in report
    assert "| 1 | 1-1 | none (head only) |" in report and "| 2 | 2-2 | 4-4 |" in report
    assert "each also as its mirror image" in report and "(face and mirror image)" in report
    res = json.loads((out / "results.json").read_text())
    assert set(res["evals"]["val"]) == {
        "cnn_v1",
        "cnn_v2_1",
        "vit_scratch",
        "vit_head3",
        "vit_head5",
        "vit_v1_6",
        "vit_v1_6_7",
        "vit_stages",
    }
    vit = res["vit"]  # the study's ViT is named by the budget, not picked on val
    assert vit["key"] == "vit_stages" and vit["resolution"] == 28 and vit["hflip"] and vit["epochs"] == 2
    assert vit["val"]["accuracy"] == res["evals"]["val"]["vit_stages"]["accuracy"]
    assert vit["feature_cache"]["splits"]["train"]["views"] == 2
    assert set(res["ensembles"]["val"]["ensemble_equal"]["weights"]) == {"cnn_v2_1", "vit_stages"}
    # the smoke budget's evaluation subset holds every class, so no model scores a vacuous zero
    for s in res["evals"]["val"].values():
        assert all(n > 0 for n in s["support"].values()) and s["accuracy"] > 0, s["support"]
    assert all(all(n > 0 for n in e["support"].values()) for e in res["ensembles"]["val"].values())
    assert (out / "ensemble" / "model.safetensors").is_file()
    stamp = (out / "runs" / "cnn_v1" / "metrics.csv").stat().st_mtime_ns
    assert main(args) == 0  # re-run: everything reused
    assert (out / "runs" / "cnn_v1" / "metrics.csv").stat().st_mtime_ns == stamp
