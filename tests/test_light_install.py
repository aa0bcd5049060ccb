"""The light install: `pip install ferlab` with no extras predicts, lists and evaluates shipped
models without PyTorch, and a command that needs an extra says which in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_kaggle

from ferlab.card import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]


def test_numpy_scores_equal_torchmetrics():
    """ferlab.evaluation.scores (numpy, for the light install) against torchmetrics' own numbers."""
    torch = pytest.importorskip("torch")
    from torchmetrics.functional.classification import multiclass_confusion_matrix, multiclass_f1_score

    from ferlab.evaluation.scores import scores

    rng = np.random.default_rng(0)
    for n, classes_present in ((500, 7), (40, 4), (1, 1)):
        labels = rng.integers(0, classes_present, n)
        probs = rng.dirichlet(np.ones(7), n).astype(np.float32)
        probs[: n // 2, 6] = 0  # some classes never predicted
        s = scores(probs, labels)
        p, y = torch.from_numpy(probs), torch.from_numpy(labels)
        pred = p.argmax(1)
        assert s["accuracy"] == pytest.approx(float((pred == y).float().mean()))
        assert s["macro_f1"] == pytest.approx(float(multiclass_f1_score(pred, y, 7, average="macro")), abs=1e-6)
        assert s["confusion"] == multiclass_confusion_matrix(pred, y, 7).tolist()
        nll = torch.nn.functional.nll_loss(p.clamp_min(1e-12).log(), y).item()
        assert s["loss"] == pytest.approx(nll, rel=1e-5)


def test_a_command_that_needs_an_extra_says_which(tmp_path):
    """torch hidden from the interpreter (as on the light install): train says `ferlab[train]`."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'lightning', 'torchmetrics', 'matplotlib', 'transformers'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, B())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(block)}
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "ferlab.cli", *a], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    r = run("train", "--config", str(ROOT / "configs" / "fer_vgg_wide.yaml"))
    assert r.returncode == 2
    assert (
        r.stderr.strip() == "ferlab: error: train needs torch, part of the training stack: pip install 'ferlab[train]'"
    )
    r = run("predict", "--sample", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)[0]["faces"]) == 1
    # the 8-class model runs from its own int8 copy: its base's weights are never needed without torch
    r = run("predict", "--sample", "--json", "--classes", "8")
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)
    assert res["model"] == "fer-vgg-wide-ferplus8" and "contempt" in res["faces"][0]["probs"]
    r = run("models", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["architectures"] is None
    # data summary only counts and hashes: it needs no torch (it crashed on `.numpy()`)
    fer = make_kaggle(tmp_path / "fer")
    r = run("data", "summary", str(fer), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["totals"]["train"] == 7 * 12 and s["pixel_duplicates"]["cross_split"] == []


@pytest.mark.slow
def test_the_wheel_in_an_empty_venv_predicts_without_torch(tmp_path):
    """The built wheel, installed with its core dependencies only into an empty venv (made from
    the base interpreter, so it works from inside a venv too): predict on the shipped sample
    photo, evaluate's help, models; torch is not importable there."""
    run = lambda *cmd, **kw: subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900, **kw)
    r = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("ferlab-*.whl")
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "venv"
    assert run(base, "-m", "venv", str(venv)).returncode == 0
    py, ferlab = venv / "bin" / "python", venv / "bin" / "ferlab"
    r = run(str(py), "-m", "pip", "install", "-q", str(wheel))
    assert r.returncode == 0, r.stderr[-3000:]
    assert run(str(py), "-c", "import torch").returncode != 0
    r = run(str(ferlab), "predict", "--sample", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (res,) = json.loads(r.stdout)
    assert len(res["faces"]) == 1 and res["model"] == DEFAULT_MODEL
    r = run(str(ferlab), "models", cwd=tmp_path)
    assert r.returncode == 0 and DEFAULT_MODEL in r.stdout and "ferlab[train]" in r.stdout
    r = run(str(ferlab), "train", "--config", "x.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "pip install 'ferlab[train]'" in r.stderr and "Traceback" not in r.stderr
    frozen = run(str(py), "-m", "pip", "freeze").stdout
    assert "torch" not in frozen and "lightning" not in frozen
