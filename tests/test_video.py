"""`ferlab video` for people: rows written as they come, the video finalised on Ctrl-C, a summary
per track and for the whole video, a timeline figure, and overlay numbers that are the CSV's tracks."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PHOTO
from PIL import Image

from ferlab.card import DEFAULT_MODEL
from ferlab.cli import main
from ferlab.inference.annotate import annotate
from ferlab.inference.recognizer import Face
from ferlab.inference.video import iter_video, video_summary


def clip(path: Path, frames: int, fps: int = 10) -> Path:
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    bgr = cv2.resize(photo[:, :, ::-1], (160, 188))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    for i in range(frames):
        frame = np.zeros((240, 320, 3), np.uint8)
        x = 20 + (i % 40)
        frame[30:218, x : x + 160] = bgr
        w.write(frame)
    w.release()
    return path


def test_summary_json_and_timeline(tmp_path, capsys):
    src = clip(tmp_path / "c.mp4", 12)
    plot = tmp_path / "t.png"
    assert main(["video", str(src), "--json", "--plot", str(plot), "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["frames"] == 12 and res["n_tracks"] == 1 and res["codec"] is None
    share = res["tracks"]["1"]["share"]
    assert res["tracks"]["1"]["frames"] == 12 and sum(share.values()) == pytest.approx(1.0, abs=1e-3)
    assert res["video"]["share"] == share and res["model"] == DEFAULT_MODEL and res["tta"] == "none"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert video_summary({}, ["happy"]) == {"tracks": {}, "video": {"face_frames": 0, "share": {}}}


def test_the_python_api_iterates_frames_with_their_tracked_faces(tmp_path):
    from ferlab.inference.recognizer import Recognizer

    frames = list(iter_video(str(clip(tmp_path / "c.mp4", 6)), Recognizer(mode="video"), every=2))
    assert [f.frame for f in frames] == list(range(6)) and [f.detected for f in frames] == [True, False] * 3
    assert all(len(f.faces) == 1 and f.faces[0][0] == 1 for f in frames)
    assert frames[1].faces == frames[0].faces  # carried over between detections
    assert frames[5].time_s == pytest.approx(0.5)


def test_the_overlay_numbers_a_face_by_its_track(tmp_path):
    """The CSV says track 2: the drawing says #2, not #1."""
    face = Face((40, 40, 80, 80), 0.9, "happy", {"happy": 0.9, "sad": 0.1})
    rgb = np.full((200, 200, 3), 128, np.uint8)
    as_track = annotate(rgb, [face], numbers=[2])
    as_first = annotate(rgb, [face])
    assert not np.array_equal(as_track, as_first)  # the label text differs
    assert np.array_equal(annotate(rgb, [face], numbers=[1]), as_first)


@pytest.mark.slow
def test_ctrl_c_keeps_the_csv_and_finalises_the_video(tmp_path):
    src = clip(tmp_path / "long.mp4", 600)
    out, rows = tmp_path / "ann.mp4", tmp_path / "rows.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferlab.cli", "video", str(src), "--out", str(out), "--csv", str(rows), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.monotonic()
    while time.monotonic() - t0 < 240 and proc.poll() is None:
        if rows.exists() and rows.read_text().count("\n") > 10:  # rows on disk while it runs
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted, what was recorded is kept" in stdout
    written = list(csv.DictReader(rows.open()))
    assert 10 <= len(written) < 600 and written[0]["track"] == "1" and written[0]["face"] == "1"
    assert written[0]["model"] == DEFAULT_MODEL and written[0]["detector"] == "centerface"
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) >= len(written)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no hidden temp video left
