"""Batch recognition (`ferlab predict --out`): streaming sinks, status rows, resume, inputs from
folders, lists and stdin, and the one-line refusals before any work."""

from __future__ import annotations

import csv
import io
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


# -- hostile file systems and damaged outputs (issue 27): each test fails on the code before it


NOT_UTF8 = os.fsdecode(b"caf\xe9.jpg")  # a name whose bytes are Latin-1, as old archives hold


def _hostile_folder(tmp_path) -> Path:
    """A folder with a good photo, one under a name that is not UTF-8, a link back to itself, a
    broken link and a sub-folder that cannot be listed (made so below, for root as well)."""
    root = tmp_path / "hostile"
    (root / "locked").mkdir(parents=True)
    (root / "ok.jpg").write_bytes(PHOTO.read_bytes())
    (root / NOT_UTF8).write_bytes(PHOTO.read_bytes())
    os.symlink(".", root / "up")
    os.symlink("gone.jpg", root / "link.jpg")
    (root / "locked" / "hidden.jpg").write_bytes(PHOTO.read_bytes())
    return root


@pytest.fixture
def locked_folders(monkeypatch):
    """Folders named `locked` cannot be listed (PermissionError), as a chmod 000 folder is for a
    user who is not root — tests run as root here, where chmod is no barrier."""
    real = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_inputs_are_recorded_and_every_other_input_processed(tmp_path, capsys, locked_folders):
    root = _hostile_folder(tmp_path)
    long_name = str(tmp_path / ("x" * 300 + ".jpg"))
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(root), long_name, "--out", str(out), "--workers", "1", "--no-progress"]) == 1
    recs = {r["path"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(recs) == {
        str(root / "ok.jpg"),
        str(root / NOT_UTF8),  # written as \udce9: the name's own bytes come back from the file
        str(root / "up"),
        str(root / "link.jpg"),
        str(root / "locked"),
        long_name,
    }
    assert recs[str(root / "ok.jpg")]["status"] == recs[str(root / NOT_UTF8)]["status"] == "ok"
    why = {Path(p).name[:9]: r["error"] for p, r in recs.items() if r["status"] == "error"}
    assert why["up"].endswith("a link to a folder already listed (a loop, or the same folder twice): skipped")
    assert why["link.jpg"].endswith("a broken link (its target gone.jpg does not exist)")
    assert why["locked"].endswith("cannot list this folder (Permission denied)")
    assert why["xxxxxxxxx"].endswith("cannot read it (File name too long)")
    # the same run as CSV and Parquet: every input there too, the odd name kept
    for suffix in (".csv", ".parquet"):
        res = tmp_path / f"r{suffix}"
        assert main(["predict", str(root), "--out", str(res), "--workers", "1", "--no-progress"]) == 1
    with open(tmp_path / "r.csv", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        assert str(root / NOT_UTF8) in {row["path"] for row in csv.DictReader(fh)}
    pq = pytest.importorskip("pyarrow.parquet")
    assert str(root / "caf\\xe9.jpg") in set(pq.read_table(tmp_path / "r.parquet").column("path").to_pylist())
    # plain output names the odd file with an escape instead of crashing on it
    capsys.readouterr()
    assert main(["predict", str(root / NOT_UTF8)]) == 0
    assert "caf\\xe9.jpg: 1 face(s)" in capsys.readouterr().out


def test_the_python_api_says_why_a_file_cannot_be_read(monkeypatch, tmp_path):
    from ferlab.inference import images
    from ferlab.inference.recognizer import Recognizer

    p = tmp_path / "secret.jpg"
    p.write_bytes(PHOTO.read_bytes())

    def denied(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images, "open", denied, raising=False)  # what a chmod 000 file gives a user
    with pytest.raises(FerlabError, match=r"secret\.jpg: cannot read it \(Permission denied\)$"):
        Recognizer().predict(p)


def test_a_full_disk_is_one_line_exit_3_and_what_was_written_resumes(folder, tmp_path, capsys, monkeypatch):
    import errno

    from ferlab.inference import outputs

    out = tmp_path / "r.jsonl"
    real, writes = outputs._write_all, []

    def fills_up(fd, data):
        if len(writes) == 2:
            real(fd, data[: len(data) // 2])  # half a record reaches the disk, then it is full
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(data)
        real(fd, data)

    monkeypatch.setattr(outputs, "_write_all", fills_up)
    assert main(["predict", str(folder), "--out", str(out), "--workers", "1", "--no-progress"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"ferlab: error: {out}: cannot write (No space left on device); the records before this one are kept: "
        "free space (or fix the folder) and continue with --resume"
    )
    monkeypatch.setattr(outputs, "_write_all", real)
    assert main(["predict", str(folder), "--out", str(out), "--resume", "--workers", "1", "--no-progress"]) == 1
    paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert len(paths) == len(set(paths)) == 6  # the torn record was redone, nothing twice
    full = tmp_path / "full.jsonl"
    os.symlink("/dev/full", full)
    assert main(["predict", str(folder), "--out", str(full), "--overwrite", "--workers", "1", "--no-progress"]) == 3
    assert "cannot write (No space left on device)" in capsys.readouterr().err


def test_resume_repairs_a_damaged_last_record_and_refuses_other_damage(folder, tmp_path, capsys):
    run = ["--workers", "1", "--no-progress"]
    out = tmp_path / "r.jsonl"
    main(["predict", str(folder / "a"), "--out", str(out), *run])
    with out.open("ab") as fh:
        fh.write(b"\x89\xff\x00 binary junk\n")
    capsys.readouterr()
    assert main(["predict", str(folder), "--out", str(out), "--resume", *run]) == 1
    assert "line 3 was damaged and is cut; its input is done again" in capsys.readouterr().err
    assert len({json.loads(line)["path"] for line in out.read_text().splitlines()}) == 6
    # CSV: a header and garbage is refused; a blank last line is no record
    csv_out = tmp_path / "r.csv"
    main(["predict", str(folder / "a"), "--out", str(csv_out), *run])
    header = csv_out.read_text().splitlines()[0]
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\n\x00\x01garbage,1\n")
    capsys.readouterr()
    assert main(["predict", str(folder), "--out", str(bad), "--resume", *run]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "record 2 has 2 fields, not 22: not a ferlab --out CSV record" in err
    with csv_out.open("a") as fh:
        fh.write("\n")
    assert main(["predict", str(folder), "--out", str(csv_out), "--resume", *run]) == 1
    rows = list(csv.DictReader(csv_out.open(newline="")))
    assert len({r["path"] for r in rows}) == 6


def test_resume_cuts_a_csv_torn_inside_a_quoted_field(folder, tmp_path):
    run = ["--workers", "1", "--no-progress"]
    out = tmp_path / "r.csv"
    main(["predict", str(folder / "a"), "--out", str(out), *run])
    with out.open("a") as fh:  # a run killed in the middle of a quoted field that holds a newline
        fh.write(f'{folder / "b" / "one.jpg"},error,"the message\nwas cut he')
    assert main(["predict", str(folder), "--out", str(out), "--resume", *run]) == 1
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert all(len(r) == len(rows[0]) for r in rows)  # no row appended inside the open quote
    assert len({r[0] for r in rows[1:]}) == 6


def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(folder, tmp_path, capsys):
    import fcntl

    out = tmp_path / "r.jsonl"
    main(["predict", str(folder / "a"), "--out", str(out), "--workers", "1", "--no-progress"])
    with open(out) as held:  # the first run, still writing
        fcntl.flock(held, fcntl.LOCK_EX)
        capsys.readouterr()
        assert main(["predict", str(folder), "--out", str(out), "--resume", "--workers", "1"]) == 2
        err = capsys.readouterr().err
        assert err == f"ferlab: error: {out}: another ferlab run is writing it; wait for that run to end, " + (
            "or write another --out\n"
        )
    assert main(["predict", str(folder), "--out", str(out), "--resume", "--workers", "1", "--no-progress"]) == 1


def test_resume_knows_an_input_by_its_relative_or_absolute_path(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(folder.parent)
    out = tmp_path / "r.jsonl"
    main(["predict", "in/a", "--out", str(out), "--workers", "1", "--no-progress"])
    main(["predict", str(folder), "--out", str(out), "--resume", "--workers", "1", "--no-progress"])
    recs = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert len(recs) == 6 and sum(p.startswith("in/a/") for p in recs) == 2  # a/ recorded once, not twice


@pytest.mark.slow
def test_a_finished_worker_pool_exits_without_noise(folder, tmp_path):
    for i in range(4):
        r = run_cli("predict", folder, "--out", tmp_path / f"r{i}.jsonl", "--workers", "2", "--no-progress")
        assert r.returncode == 1 and "Exception ignored" not in r.stderr and "Bad file descriptor" not in r.stderr


def test_nul_separated_paths_on_stdin(folder, tmp_path, monkeypatch, capsys):
    odd = folder / "a" / "with\nnewline.jpg"
    odd.write_bytes(PHOTO.read_bytes())
    names = [str(folder / "a" / "one.jpg"), str(odd)]
    for flag in ([], ["-0"]):  # detected from the bytes, or said
        monkeypatch.setattr(
            "sys.stdin", type("In", (), {"buffer": io.BytesIO(b"\0".join(map(os.fsencode, names)) + b"\0")})
        )
        out = tmp_path / f"r{len(flag)}.jsonl"
        assert main(["predict", "-", *flag, "--out", str(out), "--workers", "1", "--no-progress"]) == 0
        assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == names
