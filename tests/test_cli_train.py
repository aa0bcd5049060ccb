"""`ferlab train` from a user's seat: one-line errors for bad settings, no folder left by a run that
fails early, epochs counted from one."""

from __future__ import annotations

import pytest
from conftest import make_kaggle, run_cli, train_args

from ferlab.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_kaggle(tmp_path_factory.mktemp("tiny") / "fer", {"train": 6, "val": 2})


def test_train_wrong_types_and_zero_epochs_are_one_line_errors(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tiny, run, "--set", "train.lr=fast", "--no-progress")) == 2
    assert "train.lr must be a number, got 'fast'" in capsys.readouterr().err
    assert not run.exists()
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  lr: fast\n")
    assert main(["train", "--config", str(cfg), "--data", str(tiny), "--out", str(run)]) == 2
    assert f"{cfg}: train.lr must be a number" in capsys.readouterr().err
    cfg.write_text("train:\n  optimizer: adagrad\n")
    assert main(["train", "--config", str(cfg), "--data", str(tiny), "--out", str(run)]) == 2
    assert "unknown train.optimizer 'adagrad' (use adamw, adam, sgd)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(train_args(tiny, run, "--epochs", "0"))
    assert e.value.code == 2 and "--epochs: must be at least 1, got 0" in capsys.readouterr().err
    assert not run.exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    # an architecture that does not exist fails inside training, after the run folder was made
    assert main(train_args(tiny, run, "--set", "model.architecture=no-such-net", "--no-progress")) == 2
    assert "no-such-net" in capsys.readouterr().err
    assert not run.exists()


@pytest.mark.slow
def test_progress_bar_counts_epochs_from_one(tiny, tmp_path):
    r = run_cli(*train_args(tiny, tmp_path / "run", "--epochs", "1", "--batch-size", "16"))
    assert r.returncode == 0, r.stderr
    bar = r.stdout + r.stderr  # Lightning's bar writes to stdout
    assert "Epoch 1/1" in bar and "Epoch 0" not in bar
