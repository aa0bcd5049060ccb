"""`ferlab evaluate` on labelled folders: whole photos without --detect are warned about."""

from __future__ import annotations

from conftest import PHOTO

from ferlab.cli import main


def test_evaluating_whole_photos_without_detect_warns(tmp_path, capsys):
    for c in ("happy", "sad"):
        (tmp_path / "photos" / c).mkdir(parents=True)
        (tmp_path / "photos" / c / "a.jpg").write_bytes(PHOTO.read_bytes())
    assert main(["evaluate", "--data", str(tmp_path / "photos")]) == 0
    err = capsys.readouterr().err
    assert "ferlab: warning:" in err and "whole photos, not face crops?" in err and "--detect" in err
