"""`ferlab curves`: loss curves of runs side by side (study Figures 3-5), from their metrics.csv."""

from __future__ import annotations

import csv

from PIL import Image

from ferlab.cli import main


def _run(path, losses):
    path.mkdir()
    with (path / "metrics.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss", "val_acc"])
        for i, (tr, va) in enumerate(losses, 1):
            w.writerow([i, tr, va, 0.3 + 0.05 * i])
    return path


def test_curves_draws_one_panel_per_run(tmp_path, capsys):
    a = _run(tmp_path / "cnn_v1", [(1.6, 1.5), (1.2, 1.3), (1.0, 1.4)])
    b = _run(tmp_path / "cnn_v2_1", [(1.8, 1.7), (1.1, 1.2)])
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    assert main(["curves", str(a), "--out", str(one)]) == 0
    assert main(["curves", str(a), str(b), "--out", str(two), "--title", "V1 vs V2.1"]) == 0
    assert "loss curves of 2 run(s)" in capsys.readouterr().out
    w1, h1 = Image.open(one).size
    w2, h2 = Image.open(two).size
    assert h1 == h2 and w2 > 1.8 * w1  # a panel per run, side by side


def test_curves_of_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["curves", str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty: not a run directory (no metrics.csv)" in err
    assert not (tmp_path / "x.png").exists()
