"""Training runs on tiny generated data: artifacts, resume after SIGKILL, DDP, evaluate, compare."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from conftest import ROOT, make_kaggle, train_args
from safetensors.torch import load_file

from ferlab.cli import main
from ferlab.errors import FerlabError

ARTIFACTS = [
    "config.yaml",
    "metrics.csv",
    "loss_curves.png",
    "summary.json",
    "best/model.safetensors",
    "best/card.json",
    "last/model.safetensors",
    "last/card.json",
    "checkpoints/last.ckpt",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_kaggle(tmp_path_factory.mktemp("tiny") / "fer", {"train": 24, "val": 6})


def _rows(run):
    with (run / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def _train_args(data, out, *extra):
    return train_args(data, out, "--batch-size", "16", "--no-progress", *extra)


def test_one_epoch_run_writes_every_artifact(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny, run, "--epochs", "1", "--seed", "3")) == 0
    for a in ARTIFACTS:
        assert (run / a).is_file(), a
    assert "best val acc" in capsys.readouterr().out
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1"]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "train_img_per_s"} <= set(rows[0])
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["epochs"] == 1 and cfg["train"]["seed"] == 3 and cfg["data"]["balanced"] is True
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_completed"] == 1 and summary["architecture"] == "cnn-v2.1"
    assert summary["best"]["val_acc"] == pytest.approx(float(rows[0]["val_acc"]))
    card = json.loads((run / "best" / "card.json").read_text())
    assert card["training"]["selection_split"] == "val (PublicTest)"
    assert card["training"]["balanced_resampling"] is True
    assert "--epochs 1" in card["training"]["command"]
    assert (run / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    # refusing to overwrite a run
    assert main(_train_args(tiny, run, "--epochs", "1")) == 2
    assert "already holds a run; use --resume" in capsys.readouterr().err


def test_training_learns_and_is_deterministic(tiny, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for r in (a, b):
        assert main(_train_args(tiny, r, "--epochs", "4", "--seed", "1")) == 0
    wa, wb = load_file(a / "last" / "model.safetensors"), load_file(b / "last" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert max(float(r["val_acc"]) for r in _rows(a)) > 0.5  # 7 classes: chance is 0.14


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tiny, tmp_path):
    epochs = "12"
    ref = tmp_path / "ref"
    assert main(_train_args(tiny, ref, "--epochs", epochs, "--seed", "2")) == 0
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferlab.cli", *_train_args(tiny, run, "--epochs", epochs, "--seed", "2")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if (run / "metrics.csv").exists() and len(_rows(run)) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_rows(run))
    assert 3 <= done < int(epochs), "the run should have been killed part-way"
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    rows = _rows(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, int(epochs) + 1))
    wa, wb = load_file(ref / "last" / "model.safetensors"), load_file(run / "last" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa), "resumed run diverged from the uninterrupted one"


def test_resume_of_a_non_run_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a ferlab run directory (no config.yaml)" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_two_cpu_processes(tiny, tmp_path):
    run = tmp_path / "ddp"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferlab.cli",
            *_train_args(tiny, run, "--epochs", "2"),
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--accelerator",
            "cpu",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PL_TORCH_DISTRIBUTED_BACKEND": "gloo", "OMP_NUM_THREADS": "1"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["devices"] == 2 and summary["epochs_completed"] == 2
    assert (run / "best" / "model.safetensors").is_file()


def test_evaluate_json_schema_plot_and_compare(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny, run, "--epochs", "2")) == 0
    capsys.readouterr()
    plot = tmp_path / "cm.png"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(run),
                "--data",
                str(tiny),
                "--split",
                "val",
                "--json",
                "--plot",
                str(plot),
                "--out",
                str(tmp_path / "ev.json"),
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert {"model", "split", "n", "accuracy", "per_class", "macro_f1", "confusion", "tta"} <= set(res)
    assert res["n"] == 42 and res["split"] == "val" and res["tta"] == "none"
    assert sum(map(sum, res["confusion"])) == 42
    hits = sum(res["confusion"][i][i] for i in range(7))
    assert res["accuracy"] == pytest.approx(hits / 42)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # TTA changes the probabilities and says so
    assert main(["evaluate", "--model", str(run), "--data", str(tiny), "--tta", "--json"]) == 0
    flip = json.loads(capsys.readouterr().out)
    assert flip["tta"] == "flip"
    assert main(["evaluate", "--model", str(run), "--data", str(tiny), "--tta", "multi", "--json"]) == 0
    multi = json.loads(capsys.readouterr().out)
    assert multi["tta"] == "multi" and multi["loss"] not in (res["loss"], flip["loss"])
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--model", str(run), "--data", str(tiny), "--tta", "ten"])
    assert exit_.value.code == 2
    assert "argument --tta: invalid choice: 'ten'" in capsys.readouterr().err
    # no PrivateTest in this data
    assert main(["evaluate", "--model", str(run), "--data", str(tiny), "--split", "test"]) == 2
    assert "no test split — the data has no PrivateTest images" in capsys.readouterr().err
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "ev.json"), str(run / "last"), "--out", str(out), "--data", str(tiny)]) == 0
    md = (out / "compare.md").read_text()
    assert "| happy |" in md and "**accuracy**" in md
    assert (out / "per_class.png").read_bytes()[:4] == b"\x89PNG"
    bad = tmp_path / "bad.json"
    bad.write_text('{"foo": 1}')
    assert main(["compare", str(bad), "--out", str(out)]) == 2
    assert "not a ferlab evaluation" in capsys.readouterr().err


def _budget_config(tmp_path):
    cfg = yaml.safe_load((ROOT / "configs" / "cnn_v2_1.yaml").read_text())
    cfg["train"].update(scheduler="cosine", warmup_epochs=2, epochs=6)
    path = tmp_path / "budget.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_budget_fixes_epoch_count_and_config_yaml_repeats_it(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    args = _train_args(tiny, run, "--seed", "4", "--budget-minutes", "0.0001")
    args[args.index("--config") + 1] = str(_budget_config(tmp_path))
    assert main(args) == 0
    assert "→ 2 epochs" in capsys.readouterr().out  # no time left after the 2 calibration epochs
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["budget_minutes"] is None
    assert cfg["train"]["budget_resolved"]["cap"] == 6 and cfg["train"]["budget_resolved"]["epoch_seconds"] > 0
    assert len(_rows(run)) == 2
    assert json.loads((run / "best" / "card.json").read_text())["training"]["epochs"] == 2
    again = tmp_path / "again"
    assert main(["train", "--config", str(run / "config.yaml"), "--out", str(again), "--no-progress"]) == 0
    assert [(r["lr"], r["val_loss"]) for r in _rows(again)] == [(r["lr"], r["val_loss"]) for r in _rows(run)]


def test_budget_with_short_warmup_is_refused(tiny, tmp_path, capsys):
    cfg_path = _budget_config(tmp_path)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["train"]["warmup_epochs"] = 1
    cfg_path.write_text(yaml.safe_dump(cfg))
    args = _train_args(tiny, tmp_path / "run", "--budget-minutes", "1")
    args[args.index("--config") + 1] = str(cfg_path)
    assert main(args) == 2
    assert "needs train.warmup_epochs >= 2" in capsys.readouterr().err


def test_mixup_changes_training(tiny, tmp_path):
    plain, mixed = tmp_path / "plain", tmp_path / "mixed"
    assert main(_train_args(tiny, plain, "--epochs", "1", "--seed", "5")) == 0
    assert main(_train_args(tiny, mixed, "--epochs", "1", "--seed", "5", "--set", "train.mixup=0.4")) == 0
    assert yaml.safe_load((mixed / "config.yaml").read_text())["train"]["mixup"] == 0.4
    assert _rows(plain)[0]["train_loss"] != _rows(mixed)[0]["train_loss"]


def test_set_rejects_unknown_keys_and_bad_syntax(tiny, tmp_path, capsys):
    assert main(_train_args(tiny, tmp_path / "a", "--set", "train.mixpu=0.2")) == 2
    assert "setting train.mixpu: unknown key 'mixpu'" in capsys.readouterr().err
    assert main(_train_args(tiny, tmp_path / "b", "--set", "train.mixup")) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_set_total_epochs_moves_the_cosine_end():
    from types import SimpleNamespace

    from ferlab.training.module import FerModule

    m = FerModule("cnn-v1", scheduler="cosine", warmup_epochs=2, max_epochs=10, optimizer="sgd", lr=0.1)
    m._trainer = SimpleNamespace(estimated_stepping_batches=100)  # 10 steps per epoch
    factor = m.configure_optimizers()["lr_scheduler"]["scheduler"].lr_lambdas[0]
    assert factor(9) == pytest.approx(0.5)  # warm-up: 20 steps, step 9 is the 10th
    assert factor(49) > 0.5
    m.set_total_epochs(5)  # the schedule now ends at step 50
    assert factor(49) < 0.01
    assert factor(9) == pytest.approx(0.5)  # the warm-up does not depend on the total


def test_epoch_budget_resolves_from_measured_epoch_time(tmp_path):
    import time as _time
    from types import SimpleNamespace

    from ferlab.training.callbacks import EpochBudget

    cfg = {"train": {"epochs": 300, "budget_minutes": 1.0}}
    card: dict = {}
    cb = EpochBudget(1.0, cfg, tmp_path, card)
    now = _time.perf_counter()
    cb._t0, cb._epoch_t0 = now - 20, now - 10  # two epochs took 20 s, the last 10 s: 40 s left
    trainer = SimpleNamespace(current_epoch=1, fit_loop=SimpleNamespace(max_epochs=300), is_global_zero=True)
    got = []
    cb.on_train_epoch_end(trainer, SimpleNamespace(set_total_epochs=got.append))
    assert trainer.fit_loop.max_epochs == 5 and got == [5]  # 2 done + floor(0.97 × 40 / 10)
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 5 and saved["train"]["budget_minutes"] is None
    assert saved["train"]["budget_resolved"]["cap"] == 300 and card["epochs"] == 5


def test_distillation_trains_from_teachers_and_reports_bad_teachers(tiny, tmp_path, capsys):
    teacher = tmp_path / "teacher"
    assert main(_train_args(tiny, teacher, "--epochs", "1", "--seed", "6")) == 0
    plain, student = tmp_path / "plain", tmp_path / "student"
    assert main(_train_args(tiny, plain, "--epochs", "1", "--seed", "7")) == 0
    distill = f"{{teachers: [{teacher}], alpha: 0.7, temperature: 3}}"
    assert main(_train_args(tiny, student, "--epochs", "1", "--seed", "7", "--set", f"train.distill={distill}")) == 0
    cfg = yaml.safe_load((student / "config.yaml").read_text())
    # the saved config says what the run used, defaults included (they live in the config alone)
    assert cfg["train"]["distill"] == {"teachers": [str(teacher)], "alpha": 0.7, "temperature": 3, "offline": False}
    assert _rows(student)[0]["train_loss"] != _rows(plain)[0]["train_loss"]
    # the teacher is not part of the student's checkpoint
    keys = [set(load_file(r / "last" / "model.safetensors")) for r in (student, plain)]
    assert keys[0] == keys[1]
    capsys.readouterr()
    missing = f"train.distill={{teachers: [{tmp_path / 'nope'}]}}"
    assert main(_train_args(tiny, tmp_path / "x", "--epochs", "1", "--set", missing)) == 2
    assert "nope' not found" in capsys.readouterr().err
    assert main(_train_args(tiny, tmp_path / "y", "--epochs", "1", "--set", "train.distill={alpha: 0.5}")) == 2
    assert "train.distill needs teachers" in capsys.readouterr().err


def test_distillation_loss_is_zero_against_an_identical_teacher(tmp_path):
    from ferlab.card import make_card
    from ferlab.checkpoint import save_checkpoint
    from ferlab.models import build, count_parameters
    from ferlab.training.module import FerModule

    net = build("cnn-v2.1")
    save_checkpoint(net, make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=count_parameters(net)), tmp_path / "t")
    m = FerModule("cnn-v2.1", distill={"teachers": [str(tmp_path / "t")], "alpha": 1.0, "temperature": 2.0})
    m.model.load_state_dict(net.state_dict())
    m.eval()
    x = torch.randn(8, 1, 48, 48).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert m._distill_loss(m(x), x, None).item() == pytest.approx(0.0, abs=1e-6)
        sure = torch.zeros(8, 7)
        sure[:, 0] = 20.0  # a student certain of 'angry' is far from an untrained, near-uniform teacher
        assert m._distill_loss(sure, x, None).item() > 1.0
    mismatch = re.escape("input normalised with mean 0.5, std 0.25; the student uses 0.4, 0.25")
    with pytest.raises(FerlabError, match=mismatch):
        FerModule("cnn-v2.1", mean=0.4, distill={"teachers": [str(tmp_path / "t")]})


def _untrained_checkpoint(path, seed=0):
    from ferlab.card import make_card
    from ferlab.checkpoint import save_checkpoint
    from ferlab.models import build, count_parameters

    torch.manual_seed(seed)
    net = build("cnn-v2.1")
    save_checkpoint(net, make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=count_parameters(net)), path)
    return net


def test_offline_distillation_matches_online_and_caches_the_targets(tiny, tmp_path, monkeypatch, capsys):
    # Without augmentation the teachers see the same clean images online and offline, so both runs
    # must train identically: this also checks that each batch gets its own images' targets.
    monkeypatch.setenv("FERLAB_CACHE", str(tmp_path / "cache"))
    _untrained_checkpoint(tmp_path / "t1", seed=1)
    _untrained_checkpoint(tmp_path / "t2", seed=2)
    teachers = f"teachers: [{tmp_path / 't1'}, {tmp_path / 't2'}], alpha: 0.8, temperature: 2"
    runs = {}
    for name, extra in [("online", ""), ("offline", ", offline: true"), ("again", ", offline: true")]:
        runs[name] = tmp_path / name
        args = ["--epochs", "2", "--seed", "3", "--set", f"train.distill={{{teachers}{extra}}}"]
        assert main(_train_args(tiny, runs[name], *args)) == 0
        runs[name + "_out"] = capsys.readouterr().out
    assert "teacher targets" not in runs["online_out"]
    assert "teacher targets computed: 2 teachers × 168 images" in runs["offline_out"]
    assert "teacher targets read from cache: 2 teachers × 168 images" in runs["again_out"]
    assert len(list((tmp_path / "cache" / "soft_targets").glob("*.safetensors"))) == 1
    online, offline, again = (_rows(runs[n]) for n in ("online", "offline", "again"))
    for a, b, c in zip(online, offline, again, strict=True):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-4)
        assert b["train_loss"] == c["train_loss"]
    plain = tmp_path / "plain"
    assert main(_train_args(tiny, plain, "--epochs", "2", "--seed", "3")) == 0
    assert _rows(plain)[0]["train_loss"] != offline[0]["train_loss"]
    capsys.readouterr()
    bad = f"train.distill={{{teachers}, ofline: true}}"
    assert main(_train_args(tiny, tmp_path / "x", "--epochs", "1", "--set", bad)) == 2
    known = "(known: teachers, alpha, temperature, offline)"
    assert f"train.distill: unknown key 'ofline' {known}" in capsys.readouterr().err


def test_init_from_starts_at_the_given_weights_and_refuses_another_architecture(tiny, tmp_path, capsys):
    net = _untrained_checkpoint(tmp_path / "start", seed=5)
    run = tmp_path / "run"
    # lr 0: the weights cannot move, so the run's weights are exactly the ones it started from
    args = ["--epochs", "1", "--set", f"train.init_from={tmp_path / 'start'}", "--set", "train.lr=0"]
    assert main(_train_args(tiny, run, *args)) == 0
    got = load_file(run / "last" / "model.safetensors")
    conv = next(k for k, v in net.state_dict().items() if v.dim() == 4)
    assert torch.equal(got[conv], net.state_dict()[conv])
    fresh = tmp_path / "fresh"
    assert main(_train_args(tiny, fresh, "--epochs", "1", "--set", "train.lr=0")) == 0
    assert not torch.equal(load_file(fresh / "last" / "model.safetensors")[conv], net.state_dict()[conv])
    capsys.readouterr()
    wrong = ["--epochs", "1", "--config", str(ROOT / "configs" / "cnn_v1.yaml"), "--set"]
    assert main([*_train_args(tiny, tmp_path / "v1"), *wrong, f"train.init_from={tmp_path / 'start'}"]) == 2
    err = capsys.readouterr().err
    assert f"train.init_from {tmp_path / 'start'}: holds cnn-v2.1" in err
    assert "whose weights do not fit this run's cnn-v1" in err
