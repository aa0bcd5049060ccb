"""The run directory's format (ferlab.run_dir): where each file lives, and readable errors."""

from __future__ import annotations

import json

import pytest

from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.run_dir import RunDir


def test_a_run_is_finished_resumable_and_named_by_its_files(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run.summary() is None and not run.finished() and not run.resumable() and run.name == "r"
    assert run.metrics() == []
    run.write_config("name: x\n")
    assert run.config() == {"name": "x"}
    run.write_summary({"name": "cnn", "epochs_completed": 2, "epochs_planned": 3})
    assert run.name == "cnn" and not run.finished()
    run.write_summary({"name": "cnn", "epochs_completed": 3, "epochs_planned": 3})
    assert run.finished()
    run.metrics_file.write_text("epoch,train_loss,val_acc\n1,0.5,\n")
    assert run.metrics() == [{"epoch": 1, "train_loss": 0.5, "val_acc": None}]
    run.resume_checkpoint.parent.mkdir()
    run.resume_checkpoint.write_bytes(b"x")
    assert run.resumable()
    first, second = RunDir.new("cnn", tmp_path), None
    first.path.mkdir()
    second = RunDir.new("cnn", tmp_path)
    assert second.path != first.path and second.path.name.startswith(first.path.name)


def test_broken_run_files_give_one_line_naming_the_file(tmp_path, capsys):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.summary_file.write_text("{torn")
    with pytest.raises(FerlabError, match=r"summary.json: not valid JSON"):
        run.finished()
    run.summary_file.write_text(json.dumps({"name": "x"}))
    with pytest.raises(FerlabError, match="not a ferlab run summary"):
        run.summary()
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"ferlab: error: {run}: not a ferlab run directory (no config.yaml)"
    run.config_file.write_text("- a list\n")
    assert main(["train", "--resume", str(run)]) == 2
    assert "config.yaml: not a ferlab config" in capsys.readouterr().err
