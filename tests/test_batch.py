"""Batch recognition (`ferlab predict --out`): streaming sinks, status rows, resume, inputs from
folders, lists and stdin, and the one-line refusals before any work."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTO, run_cli
from PIL import Image

from ferlab.card import DEFAULT_MODEL
from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.inference.batch import InputCounts, iter_inputs, read_list
from ferlab.inference.outputs import CsvSink, JsonlSink, RunInfo, _cut_torn_tail


@pytest.fixture
def folder(tmp_path) -> Path:
    """Three photos with a face in two folders, a blank image, a corrupt and a 0-byte file, a
    macOS `._` file and a text file."""
    root = tmp_path / "in"
    for sub, name in (("a", "one.jpg"), ("a", "two.jpg"), ("b", "one.jpg")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / name).write_bytes(PHOTO.read_bytes())
    Image.new("RGB", (120, 90), "gray").save(root / "b" / "blank.png")
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (root / "b" / "empty.png").write_bytes(b"")
    (root / "b" / "._one.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "b" / "notes.txt").write_text("not an image")
    return root


def test_jsonl_one_line_per_input_with_status(folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    rc = main(["predict", str(folder), "--out", str(out), "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1  # two files failed; the rest were processed
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    by = {str(Path(r["path"]).relative_to(folder)): r for r in recs}
    assert set(by) == {"a/one.jpg", "a/two.jpg", "b/one.jpg", "b/blank.png", "b/broken.jpg", "b/empty.png"}
    assert [by[k]["status"] for k in ("a/one.jpg", "b/blank.png", "b/broken.jpg", "b/empty.png")] == [
        "ok",
        "no_face",
        "error",
        "error",
    ]
    assert "empty file (0 bytes)" in by["b/empty.png"]["error"] and by["a/one.jpg"]["error"] is None
    f = by["a/one.jpg"]["faces"][0]
    assert {"box", "landmarks", "score", "label", "confidence", "probs"} <= set(f)
    assert by["a/one.jpg"]["size"] == [512, 600] and by["a/one.jpg"]["model"] == DEFAULT_MODEL
    assert {r["detector"] for r in recs} == {"centerface"} and len({r["settings"] for r in recs}) == 1
    assert "2 error(s)" in err and "1 hidden file(s)" in err and ".txt ×1" in err


def test_csv_rows_per_face_and_per_faceless_image(folder, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["predict", str(folder), "--out", str(out), "--workers", "1", "--no-progress"]) == 1
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6  # a face each in three photos, and one row each for the blank and the two failures
    status = {str(Path(r["path"]).relative_to(folder)): r["status"] for r in rows}
    assert status["b/blank.png"] == "no_face" and status["b/broken.jpg"] == "error"
    ok = next(r for r in rows if r["status"] == "ok")
    assert ok["face"] == "1" and float(ok["confidence"]) == pytest.approx(
        max(float(ok[c]) for c in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
    )
    blank = next(r for r in rows if r["status"] == "no_face")
    assert blank["face"] == "" and blank["label"] == "" and blank["error"] == ""


def test_parquet_is_a_folder_of_parts_with_the_csv_columns(folder, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "r.parquet"
    assert main(["predict", str(folder), "--out", str(out), "--workers", "1", "--no-progress"]) == 1
    table = pq.read_table(out)
    assert table.num_rows == 6 and table.column_names[:4] == ["path", "status", "error", "face"]
    meta = json.loads(table.schema.metadata[b"ferlab"])
    assert meta["model"] == DEFAULT_MODEL and len(meta["classes"]) == 7
    assert not list(out.glob(".*"))  # no temporary part left behind


def test_resume_skips_what_is_recorded_and_refuses_other_settings(folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(folder / "a"), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    first = out.read_text()
    # the same command again would overwrite finished work: refused, the file untouched
    assert main(["predict", str(folder), "--out", str(out)]) == 2
    assert "exists; --resume continues it, --overwrite starts again" in capsys.readouterr().err
    assert main(["predict", str(folder), "--out", str(out), "--resume", "--workers", "1", "--no-progress"]) == 1
    lines = out.read_text().splitlines()
    assert out.read_text().startswith(first) and len(lines) == 6
    assert len({json.loads(line)["path"] for line in lines}) == 6
    capsys.readouterr()
    assert main(["predict", str(folder), "--out", str(out), "--resume", "--tta", "none"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"made by model {DEFAULT_MODEL}, TTA zoomflip" in err and "this run is" in err


def test_a_torn_last_line_is_cut_before_resuming(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b'{"path": "a.jpg"}\n{"path": "b.j')
    _cut_torn_tail(p)
    assert p.read_bytes() == b'{"path": "a.jpg"}\n'
    p.write_bytes(b"no newline at all")
    _cut_torn_tail(p)
    assert p.read_bytes() == b""


def test_sinks_refuse_to_resume_a_file_that_is_not_theirs(tmp_path):
    run = RunInfo("m", "none", "centerface", "abc", ("angry",))
    j = tmp_path / "x.jsonl"
    j.write_text("hello\n")
    with pytest.raises(FerlabError, match="line 1 is not a ferlab JSON-lines record"):
        JsonlSink.done(j, run)
    c = tmp_path / "x.csv"
    c.write_text("a,b\n1,2\n")
    with pytest.raises(FerlabError, match="not ferlab's --out CSV columns"):
        CsvSink.done(c, run)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "{t}/r.txt"], "--out must end in .jsonl, .csv, .parquet"),
        (["--out", "{t}/adir.jsonl"], "--out is a folder; .jsonl output needs a file name"),
        (["--out", "{t}/nowhere/r.jsonl"], "does not exist"),
        (["--from-list", "{t}/missing.txt"], "--from-list: no such file"),
        (["--from-list", "{t}/nopath.csv"], "no `path` column in its header"),
        (["--resume"], "--resume continues an --out file: give --out FILE too"),
        (["--out", "{t}/r.jsonl", "--resume", "--overwrite"], "give one"),
    ],
)
def test_bad_batch_arguments_are_one_line_before_any_work(tmp_path, capsys, args, message):
    (tmp_path / "adir.jsonl").mkdir()
    (tmp_path / "nopath.csv").write_text("file,label\nx.jpg,1\n")
    argv = ["predict", str(PHOTO), *(a.format(t=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_inputs_from_lists_stdin_and_globs(folder, tmp_path, monkeypatch):
    photos = sorted(str(p) for p in folder.rglob("one.jpg") if not p.name.startswith("."))
    txt = tmp_path / "list.txt"
    txt.write_text("# photos\n" + "\n".join(photos) + "\n\n")
    assert list(read_list(txt)) == photos
    tab = tmp_path / "list.csv"
    tab.write_text("path,label\n" + "".join(f"{p},x\n" for p in photos))
    assert list(read_list(tab)) == photos
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"path": photos, "n": [1, 2]}), tmp_path / "list.parquet")
    assert list(read_list(tmp_path / "list.parquet")) == photos
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(photos) + "\n"))
    assert list(iter_inputs(["-"])) == photos
    assert sorted(iter_inputs([str(folder / "*" / "one.jpg")])) == photos
    counts = InputCounts()
    walked = list(iter_inputs([str(folder)], counts=counts))
    assert len(walked) == 6 and counts.hidden == 1 and dict(counts.unsupported) == {".txt": 1}
    assert walked == sorted(walked)  # a stable order: resumable, comparable between runs


def test_stdin_paths_on_the_command_line(folder, tmp_path):
    out = tmp_path / "r.jsonl"
    paths = "\n".join(str(p) for p in sorted((folder / "a").glob("*.jpg")))
    r = subprocess.run(
        [sys.executable, "-m", "ferlab.cli", "predict", "-", "--out", str(out), "--workers", "1"],
        input=paths,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["status"] for x in out.read_text().splitlines()] == ["ok", "ok"]


def many_photos(root: Path, n: int) -> list[Path]:
    """n distinct small photos (the test photo at 160 px wide, a pixel column changed each)."""
    root.mkdir(parents=True, exist_ok=True)
    base = np.asarray(Image.open(PHOTO).convert("RGB").resize((160, 188)))
    paths = []
    for i in range(n):
        img = base.copy()
        img[0, i % 160] = (i * 7) % 256
        p = root / f"img{i:04d}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists():
            k = path.read_bytes().count(b"\n")
            if k >= n:
                return k
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_kill_9_then_resume_records_every_input_exactly_once(tmp_path, suffix):
    """Results are on disk while the run is alive; a SIGKILL mid-run, then the same command with
    --resume, gives every input once (the interrupted images redone, none twice)."""
    photos = many_photos(tmp_path / "in", 60)
    out = tmp_path / f"r{suffix}"
    cmd = [sys.executable, "-m", "ferlab.cli", "predict", str(tmp_path / "in"), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen([*cmd, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = wait_for_lines(out, 15, proc)
    alive = proc.poll() is None
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert alive and seen >= 15, "the results must be readable while the run is alive"
    assert children, "two workers were running"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    # the workers notice their parent is gone and exit: no orphan keeps a core and its memory
    assert not [c for c in children if Path(f"/proc/{c}").exists()]
    assert main_subprocess([*cmd, "--workers", "1", "--resume"]) == 0
    if suffix == ".jsonl":
        paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    else:
        paths = [r["path"] for r in csv.DictReader(out.open())]
    assert len(paths) == len(set(paths)) == 60
    assert set(paths) == {str(p) for p in photos}


def main_subprocess(cmd: list[str]) -> int:
    return subprocess.run(cmd, capture_output=True, timeout=600, check=False).returncode


@pytest.mark.slow
def test_two_workers_give_the_same_records_as_one(tmp_path):
    many_photos(tmp_path / "in", 24)
    outs = {}
    for w in (1, 2):
        out = tmp_path / f"r{w}.jsonl"
        r = run_cli("predict", tmp_path / "in", "--out", out, "--workers", w, "--no-progress")
        rc, err = r.returncode, r.stderr
        assert rc == 0, err
        assert f"{w} worker(s)" in err
        outs[w] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in outs[1]] == [r["path"] for r in outs[2]]  # input order kept
    for a, b in zip(outs[1], outs[2], strict=True):
        assert [f["label"] for f in a["faces"]] == [f["label"] for f in b["faces"]]
        assert [f["box"] for f in a["faces"]] == [f["box"] for f in b["faces"]]


@pytest.mark.slow
def test_the_ray_engine_on_a_local_instance_writes_the_same_rows_and_resumes_by_shard(tmp_path):
    """--engine ray on a local Ray (2 CPUs): the --out .parquet schema, one row per face or faceless
    image, and a resume that skips finished shards and redoes the missing one."""
    pytest.importorskip("ray")
    pq = pytest.importorskip("pyarrow.parquet")
    from ferlab.inference.ray_engine import run_ray
    from ferlab.options import RecognizerOptions

    photos = many_photos(tmp_path / "in", 10)
    Image.new("RGB", (100, 100), "gray").save(tmp_path / "in" / "zz_blank.png")
    out = tmp_path / "ray.parquet"
    res = run_ray(RecognizerOptions(), [str(tmp_path / "in")], str(out), shard_size=4, actors=2, progress=False)
    assert res["images"] == 11 and res["shards"] == 3 and res["startup_s"] > 0
    table = pq.read_table(out)
    assert table.num_rows == 11 and sorted(set(table.column("status").to_pylist())) == ["no_face", "ok"]
    assert set(table.column("path").to_pylist()) == {str(p) for p in photos} | {str(tmp_path / "in" / "zz_blank.png")}
    native = tmp_path / "native.parquet"
    assert main(["predict", str(tmp_path / "in"), "--out", str(native), "--workers", "1", "--no-progress"]) == 0
    assert pq.read_table(native).schema.names == table.schema.names
    shards = sorted(p.name for p in out.iterdir())
    import shutil

    shutil.rmtree(out / shards[1])  # as if the run had died during the second shard
    with pytest.raises(FerlabError, match="holds finished shards; --resume continues it"):
        run_ray(RecognizerOptions(), [str(tmp_path / "in")], str(out), shard_size=4, actors=2, progress=False)
    again = run_ray(
        RecognizerOptions(), [str(tmp_path / "in")], str(out), shard_size=4, actors=2, progress=False, resume=True
    )
    assert again["shards_skipped"] == 2 and again["images"] == 4
    assert sorted(p.name for p in out.iterdir()) == shards
    assert sorted(pq.read_table(out).column("path").to_pylist()) == sorted(table.column("path").to_pylist())
