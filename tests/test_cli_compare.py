"""`ferlab compare`: per-class numbers side by side only where they were measured alike."""

from __future__ import annotations

import json

from ferlab.cli import main
from ferlab.labels import CLASSES


def _result(path, labels, n, acc):
    path.write_text(
        json.dumps(
            {
                "model": path.stem,
                "split": "val",
                "labels": labels,
                "n": n,
                "tta": "none",
                "accuracy": acc,
                "macro_f1": acc,
                "per_class": dict.fromkeys(CLASSES, acc),
            }
        )
    )
    return str(path)


def test_results_on_other_labels_or_images_are_refused(tmp_path, capsys):
    a = _result(tmp_path / "fer.json", "original", 3589, 0.71)
    b = _result(tmp_path / "ferplus.json", "ferplus-majority", 3186, 0.85)
    assert main(["compare", a, b, "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ferplus.json: evaluated with ferplus-majority labels on n=3186 images" in err
    assert not (tmp_path / "cmp").exists()


def test_the_table_and_figure_name_the_label_set(tmp_path, capsys):
    a = _result(tmp_path / "one.json", "ferplus-majority", 3186, 0.80)
    b = _result(tmp_path / "two.json", "ferplus-majority", 3186, 0.85)
    assert main(["compare", a, b, "--out", str(tmp_path / "cmp")]) == 0
    assert "# Per-class accuracy on val (ferplus-majority labels, n=3186)" in capsys.readouterr().out
