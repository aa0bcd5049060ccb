"""`ferlab video` for people: rows written as they come, the video finalised on Ctrl-C, a summary
per track and for the whole video, a timeline figure, and overlay numbers that are the CSV's tracks."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PHOTO, run_cli
from PIL import Image

from ferlab.card import DEFAULT_MODEL
from ferlab.cli import main
from ferlab.inference.annotate import annotate
from ferlab.inference.recognizer import Face, Recognizer
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
    # a suite started in the background of a script inherits SIGINT ignored (POSIX), and so would the
    # child: Ctrl-C is given back Python's own handler first, as in a terminal
    start = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from ferlab.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", start, "video", str(src), "--out", str(out), "--csv", str(rows), "--no-progress"],
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


def test_the_tracker_follows_crossing_faces_by_overlap():
    """Two faces walk past each other: each keeps its id while boxes overlap their own track most,
    and a box that overlaps no live track starts a new one."""
    from ferlab.inference.video import IouTracker

    tr = IouTracker(threshold=0.3)
    p = np.eye(7, dtype=np.float32)[[3, 6]]  # face A happy, face B neutral
    ids = []
    for f, dx in enumerate(range(0, 120, 10)):
        a, b = (10 + dx, 50, 40, 40), (130 - dx, 50, 40, 40)  # A moves right, B moves left
        ids.append([tid for tid, _ in tr.update(f, [a, b], p)])
    assert ids[0] == [1, 2] and all(i == [1, 2] for i in ids)
    assert [t.id for t in tr.tracks] == [1, 2]
    ((new, _),) = tr.update(len(ids), [(400, 300, 40, 40)], p[:1])
    assert new == 3


def test_a_track_that_ends_is_dropped_and_smoothing_averages_its_history():
    from ferlab.inference.video import IouTracker

    tr = IouTracker(max_missing=2, smooth=2)
    box = (10, 10, 40, 40)
    happy, sad = np.eye(7, dtype=np.float32)[3], np.eye(7, dtype=np.float32)[4]
    ((tid, p1),) = tr.update(0, [box], happy[None])
    ((_, p2),) = tr.update(1, [box], sad[None])
    assert tid == 1 and p1[3] == 1.0 and p2[3] == p2[4] == 0.5  # the last two detections, averaged
    assert tr.update(3, [], np.zeros((0, 7))) == [] and [t.id for t in tr.tracks] == [1]  # missed 2: kept
    tr.update(4, [], np.zeros((0, 7)))  # missed 3 frames: the track has ended
    assert tr.tracks == []
    ((again, _),) = tr.update(5, [box], happy[None])
    assert again == 2  # the same place later is a new track, never a reused id


def test_video_csv_rows_tracks_and_output(ckpt, tmp_path):
    src = clip(tmp_path / "clip.mp4", 12)
    out, rows_csv = tmp_path / "ann.mp4", tmp_path / "frames.csv"
    assert (
        main(
            [
                "video",
                str(src),
                "--model",
                str(ckpt),
                "--out",
                str(out),
                "--csv",
                str(rows_csv),
                "--smooth",
                "3",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(rows_csv.open()))
    assert len(rows) == 12 and [int(r["frame"]) for r in rows] == list(range(12))
    assert {r["track"] for r in rows} == {"1"}
    assert float(rows[5]["time_s"]) == pytest.approx(0.5)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    # every 3rd frame only
    assert main(["video", str(src), "--model", str(ckpt), "--csv", str(rows_csv), "--every", "3", "--no-progress"]) == 0
    assert [int(r["frame"]) for r in csv.DictReader(rows_csv.open())] == [0, 3, 6, 9]


def test_video_bad_source(ckpt, tmp_path, capsys):
    assert main(["video", str(tmp_path / "missing.mp4"), "--model", str(ckpt)]) == 2
    assert "no such video file" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(1000))
    assert main(["video", str(bad), "--model", str(ckpt)]) == 2
    assert "cannot read as video" in capsys.readouterr().err


@pytest.mark.slow
def test_a_bad_video_or_missing_webcam_prints_only_ferlab_s_line(ckpt, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    for source, message in ((str(bad), "cannot read as video"), ("7", "webcam 7: cannot open")):
        r = run_cli("video", source, "--model", str(ckpt))
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and message in r.stderr, r.stderr


def test_video_outputs_that_cannot_work_and_sources_without_frames_are_one_line(tmp_path, capsys):
    src = clip(tmp_path / "c.mp4", 4)
    assert main(["video", str(src), "--csv", str(tmp_path / "missing" / "x.csv"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"x.csv: --csv: the folder {tmp_path / 'missing'} does not exist" in err
    empty = tmp_path / "zero.avi"
    w = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    w.release()  # a container with no frame in it
    notimage = tmp_path / "notimage.jpg"
    notimage.write_bytes(b"plain text, not a picture")
    for bad in (empty, notimage):
        assert main(["video", str(bad), "--out", str(tmp_path / "z.mp4"), "--no-progress"]) == 2
        out, err = capsys.readouterr()
        assert "annotated video" not in out and err.count("\n") == 1 and str(bad) in err
    assert not (tmp_path / "z.mp4").exists()


def test_the_summary_counts_face_rows_without_a_csv(tmp_path, capsys):
    src = clip(tmp_path / "c.mp4", 6)
    assert main(["video", str(src), "--json", "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["rows"] == sum(t["frames"] for t in res["tracks"].values()) > 0


def test_the_timeline_gives_every_track_one_time_axis(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from ferlab.inference.video import plot_timeline

    seen = {}
    real = plt.Figure.savefig

    def keep(fig, *a, **kw):
        seen["xlims"] = [ax.get_xlim() for ax in fig.axes]
        return real(fig, *a, **kw)

    plt.Figure.savefig = keep
    try:
        plot_timeline({1: [(0.0, "happy"), (0.1, "happy")], 2: [(4.0, "sad"), (4.1, "sad")]}, tmp_path / "t.png")
    finally:
        plt.Figure.savefig = real
    assert len(seen["xlims"]) == 2 and seen["xlims"][0] == seen["xlims"][1] == (0.0, pytest.approx(4.2))
