"""Everything ferlab writes about faces, in one schema: the face columns are the same in every
output (predict's JSON, JSON lines, CSV and Parquet, the server's answers, video's CSV, which
adds frame, time and track in front).

Streaming sinks (`open_sink`) write each result as it is made, so an interrupted run keeps what
it did: JSON lines and CSV are appended one whole record per write(2) and flushed; Parquet is a
folder of part files, each written whole under a temporary name and then renamed, so a reader
never sees a half-written part. `--resume` reads back which inputs a sink already holds (a torn
last line is cut off first) and refuses a file made with other settings.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ferlab.errors import FerlabError, OutputError
from ferlab.io import atomic_write

if TYPE_CHECKING:
    from ferlab.inference.recognizer import Face, ImageResult, Recognizer

STREAM_SUFFIXES = (".jsonl", ".csv", ".parquet")
IMAGE_COLUMNS = ["path", "status", "error"]
RUN_COLUMNS = ["model", "tta", "detector", "settings"]
VIDEO_COLUMNS = ["frame", "time_s", "track"]


def utf8_text(s: str) -> str:
    """A path or message as valid UTF-8: a file name whose bytes are not UTF-8 (held by Python as
    surrogate escapes) gets \\xNN for each such byte. JSON lines and CSV keep such names exactly
    (\\udcNN escapes, raw bytes); Parquet and printed output use this."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def face_columns(classes: list[str]) -> list[str]:
    return ["face", "x", "y", "w", "h", "score", "label", "confidence", *classes]


def face_row(i: int | None, face: Face | None, classes: list[str]) -> list:
    """A face's columns (face number from 1), or empty ones for an image without a face."""
    if face is None:
        return [None] * (8 + len(classes))
    d = face.to_dict()
    return [i, *d["box"], d["score"], d["label"], d["confidence"], *(d["probs"][c] for c in classes)]


@dataclass(frozen=True)
class RunInfo:
    """What made a file's numbers: the model, TTA and detector by name, and a fingerprint of every
    setting that changes a label or a box (a resumed file must have been made with the same)."""

    model: str
    tta: str
    detector: str
    settings: str
    classes: tuple[str, ...]

    @classmethod
    def of(cls, rec: Recognizer) -> RunInfo:
        from ferlab.detectors import resolved

        o = rec.options
        det = {**o.detector.__dict__, **resolved(o.detector, o.mode)} if rec.detector_name == o.detector.name else {}
        settings = rec.settings()
        facts = {
            **{k: settings[k] for k in ("model", "created", "tta", "backend", "precision", "temperature", "detector")},
            "detector_options": det,
            "align": o.align,
            "margin": o.margin,
            "min_confidence": o.min_confidence,
            "max_faces": o.max_faces,
            **({"prior": o.prior} if o.prior != "none" else {}),  # files made before priors keep their digest
        }
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return cls(rec.name, rec.tta, rec.detector_name, digest, tuple(rec.classes))

    def values(self) -> list[str]:
        return [self.model, self.tta, self.detector, self.settings]


def image_record(result: ImageResult, run: RunInfo) -> dict:
    """One image as JSON: path, status, error, size, faces, and what made them."""
    rec = {
        "path": result.source,
        "status": result.status,
        "error": result.error,
        "size": None if result.size is None else list(result.size),
        "faces": [f.to_dict() for f in result.faces],
        "model": run.model,
        "tta": run.tta,
        "detector": run.detector,
        "settings": run.settings,
    }
    if result.dropped:
        rec["faces_dropped"] = result.dropped
    return rec


def image_rows(result: ImageResult, run: RunInfo) -> list[list]:
    """A row per face; one row with empty face columns for an image with no face or an error."""
    head = [result.source, result.status, result.error]
    classes = list(run.classes)
    faces = [face_row(i, f, classes) for i, f in enumerate(result.faces, 1)] or [face_row(None, None, classes)]
    return [head + f + run.values() for f in faces]


def table_columns(classes: list[str] | tuple[str, ...]) -> list[str]:
    return IMAGE_COLUMNS + face_columns(list(classes)) + RUN_COLUMNS


def write_faces_csv(out: str | os.PathLike, results: list[ImageResult], run: RunInfo) -> None:
    """predict --csv: a row per face of a small run, written at the end, atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", *face_columns(list(run.classes)), *RUN_COLUMNS])
            for r in results:
                for i, f in enumerate(r.faces, 1):
                    w.writerow([r.source, *face_row(i, f, list(run.classes)), *run.values()])

    atomic_write(out, write)


# -- streaming sinks


def check_out(path: str | os.PathLike, *, resume: bool, overwrite: bool) -> Path:
    """Refuse, before any work, an --out that cannot be written or would lose a finished file."""
    p = Path(path)
    if p.suffix.lower() not in STREAM_SUFFIXES:
        raise FerlabError(f"{p}: --out must end in {', '.join(STREAM_SUFFIXES)} (its suffix says the format)")
    if p.suffix.lower() != ".parquet" and p.is_dir():
        raise FerlabError(f"{p}: --out is a folder; {p.suffix} output needs a file name")
    if p.suffix.lower() == ".parquet" and p.exists() and not p.is_dir():
        raise FerlabError(f"{p}: --out .parquet is written as a folder of parts, and this is an existing file")
    if not p.parent.is_dir():
        raise FerlabError(f"{p}: the folder {p.parent} does not exist")
    if resume and overwrite:
        raise FerlabError("--resume continues an --out file and --overwrite starts it again: give one")
    if _has_records(p) and not (resume or overwrite):
        raise FerlabError(f"{p}: exists; --resume continues it, --overwrite starts again")
    return p


def _has_records(p: Path) -> bool:
    if p.is_dir():
        return any(p.glob("part-*.parquet"))
    return p.is_file() and p.stat().st_size > 0


class _LineFile:
    """A text sink written one whole record per write(2), appended when resuming."""

    def __init__(self, path: Path, run: RunInfo, *, append: bool) -> None:
        self.path, self.run = path, run
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644)

    def _write(self, data: bytes) -> None:
        try:
            _write_all(self.fd, data)
        except OSError as e:
            raise OutputError(
                f"{self.path}: cannot write ({e.strerror or e}); the records before this one are kept: "
                "free space (or fix the folder) and continue with --resume"
            ) from None

    def close(self) -> None:
        os.close(self.fd)


class JsonlSink(_LineFile):
    def write(self, result: ImageResult) -> None:
        rec = image_record(result, self.run)
        try:
            line = json.dumps(rec, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a file name that is not UTF-8: \udcXX escapes keep its bytes
            line = json.dumps(rec).encode()
        self._write(line + b"\n")

    @staticmethod
    def done(path: Path, run: RunInfo) -> set[str]:
        _cut_torn_tail(path)
        seen: set[str] = set()
        with open(path, "rb") as fh:
            lines, at = [], 0
            for n, raw in enumerate(fh, 1):
                if raw.strip():
                    lines.append((n, at, raw))
                at += len(raw)
        for i, (n, start, raw) in enumerate(lines):
            try:
                rec = json.loads(raw.decode("utf-8"))
                seen.add(rec["path"])
            except (ValueError, KeyError, TypeError):
                if 0 < i == len(lines) - 1:  # a damaged last record after good ones (a crash, a full disk): redo it
                    with open(path, "rb+") as fh:
                        fh.truncate(start)
                    print(f"ferlab: {path}: line {n} was damaged and is cut; its input is done again", file=sys.stderr)
                    continue
                raise FerlabError(f"{path}: line {n} is not a ferlab JSON-lines record; cannot resume it") from None
            if i == 0:
                _same_run(path, [rec.get(k) for k in RUN_COLUMNS], run)
        return seen


class CsvSink(_LineFile):
    def __init__(self, path: Path, run: RunInfo, *, append: bool) -> None:
        fresh = not append or not path.exists() or path.stat().st_size == 0
        super().__init__(path, run, append=append)
        if fresh:
            self._rows([table_columns(run.classes)])

    def _rows(self, rows: list[list]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        # a file name that is not UTF-8 is written as the bytes it has (read back the same way)
        self._write(buf.getvalue().encode("utf-8", "surrogateescape"))

    def write(self, result: ImageResult) -> None:
        self._rows(image_rows(result, self.run))  # an image's rows in one write: never half an image

    @staticmethod
    def done(path: Path, run: RunInfo) -> set[str]:
        _cut_torn_csv(path)
        seen: set[str] = set()
        columns = table_columns(run.classes)
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
            rows = [r for r in csv.reader(fh) if r]  # a blank line is no record
        if not rows:
            return seen
        if rows[0] != columns:
            raise FerlabError(f"{path}: its columns are not ferlab's --out CSV columns for this model; cannot resume")
        idx = [columns.index(k) for k in RUN_COLUMNS]
        for n, row in enumerate(rows[1:], 2):
            if len(row) != len(columns):
                raise FerlabError(
                    f"{path}: record {n} has {len(row)} fields, not {len(columns)}: not a ferlab --out CSV record; "
                    "cannot resume it"
                )
            if n == 2:
                _same_run(path, [row[i] for i in idx], run)
            seen.add(row[0])
        return seen


class ParquetSink:
    """A folder of part files (what Spark, Ray and pandas read as one table), a part per
    `rows_per_part` images or `seconds` of work, whichever comes first."""

    def __init__(self, path: Path, run: RunInfo, *, append: bool, rows_per_part: int = 256, seconds: float = 10.0):
        pa = _pyarrow()
        self.pa, self.path, self.run = pa, path, run
        if not append and path.is_dir():
            for old in path.glob("part-*.parquet"):
                old.unlink()
        path.mkdir(exist_ok=True)
        self.schema = parquet_schema(run)
        self.rows: list[list] = []
        self.images = 0
        self.rows_per_part, self.seconds, self.started = rows_per_part, seconds, time.monotonic()
        self.seq = 1 + max((int(p.stem.split("-")[1]) for p in path.glob("part-*.parquet")), default=-1)

    def write(self, result: ImageResult) -> None:
        # Parquet strings are UTF-8: a name that is not is written with \xNN escapes (utf8_text)
        self.rows += [[utf8_text(v) if isinstance(v, str) else v for v in row] for row in image_rows(result, self.run)]
        self.images += 1
        if self.images >= self.rows_per_part or time.monotonic() - self.started > self.seconds:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        import pyarrow.parquet as pq

        cols = list(zip(*self.rows, strict=True))
        table = self.pa.Table.from_arrays(
            [self.pa.array(c, type=f.type) for c, f in zip(cols, self.schema, strict=True)], schema=self.schema
        )
        part = self.path / f"part-{self.seq:05d}.parquet"
        try:
            atomic_write(part, lambda tmp: pq.write_table(table, tmp))
        except OSError as e:
            raise OutputError(
                f"{part}: cannot write ({e.strerror or e}); the parts before it are kept: "
                "free space (or fix the folder) and continue with --resume"
            ) from None
        self.seq += 1
        self.rows, self.images, self.started = [], 0, time.monotonic()

    def close(self) -> None:
        self.flush()

    @staticmethod
    def done(path: Path, run: RunInfo) -> set[str]:
        import pyarrow.parquet as pq

        _pyarrow()
        seen: set[str] = set()
        for part in sorted(path.glob("part-*.parquet")):
            try:
                f = pq.ParquetFile(part)
            except Exception as e:  # a part that is not Parquet (pyarrow raises several types)
                raise FerlabError(f"{part}: not a readable Parquet file ({e}); cannot resume") from None
            meta = json.loads((f.schema_arrow.metadata or {}).get(b"ferlab", b"{}"))
            _same_run(part, [meta.get(k) for k in RUN_COLUMNS], run)
            for batch in f.iter_batches(columns=["path"]):
                seen.update(batch.column(0).to_pylist())
        return seen


def parquet_schema(run: RunInfo):
    pa = _pyarrow()
    s, i, f = pa.string(), pa.int32(), pa.float32()
    types = [s, s, s, i, i, i, i, i, f, s, f, *[f] * len(run.classes), s, s, s, s]
    fields = [pa.field(n, t) for n, t in zip(table_columns(run.classes), types, strict=True)]
    meta = {k: v for k, v in zip(RUN_COLUMNS, run.values(), strict=True)}
    return pa.schema(fields, metadata={"ferlab": json.dumps({**meta, "classes": list(run.classes)})})


SINKS = {".jsonl": JsonlSink, ".csv": CsvSink, ".parquet": ParquetSink}


def open_sink(path: Path, run: RunInfo, *, resume: bool):
    """(the sink, the inputs it already holds): with resume, what the file has is kept and read
    back. The output is locked first, for as long as the sink is open: a second run writing the
    same output is refused in one line instead of interleaving records with this one."""
    kind = SINKS[path.suffix.lower()]
    lock = _lock(path)
    try:
        done = kind.done(path, run) if resume and _has_records(path) else set()
        sink = kind(path, run, append=resume)
    except BaseException:
        os.close(lock)
        raise
    close = sink.close

    def close_and_unlock() -> None:
        try:
            close()
        finally:
            os.close(lock)

    sink.close = close_and_unlock
    return sink, done


def _lock(path: Path) -> int:
    """An exclusive lock on the output (the Parquet folder itself), held by an open descriptor:
    released by the kernel when the run ends, however it ends, and leaving no file behind."""
    import fcntl

    if path.suffix.lower() == ".parquet":
        path.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    else:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise FerlabError(
            f"{path}: another ferlab run is writing it; wait for that run to end, or write another --out"
        ) from None
    return fd


def _same_run(path, values: list, run: RunInfo) -> None:
    if [str(v) for v in values] != run.values():
        was = dict(zip(RUN_COLUMNS, values, strict=True))
        raise FerlabError(
            f"{path}: made by model {was['model']}, TTA {was['tta']}, detector {was['detector']} (settings "
            f"{was['settings']}); this run is {run.model}, {run.tta}, {run.detector} ({run.settings}): "
            "resume with the same settings, or write another --out"
        )


def _cut_torn_tail(path: Path) -> None:
    """A run killed mid-write can leave a last line without its newline: cut it (its input is redone)."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                fh.truncate(pos - step + nl + 1)
                return
            pos -= step
        fh.truncate(0)


def _cut_torn_csv(path: Path) -> None:
    """Cut a CSV back to its last whole record. A record ends at a newline outside quotes: a run
    killed inside a quoted field (a message or a name holding a newline) leaves an open quote, and
    rows appended after it would land inside that field."""
    end = 0
    inside = False
    with open(path, "rb") as fh:
        pos = 0
        for line in fh:
            pos += len(line)
            inside ^= line.count(b'"') % 2 == 1  # doubled quotes inside a field keep the parity
            if not inside and line.endswith(b"\n"):
                end = pos
    if end != pos:
        with open(path, "rb+") as fh:
            fh.truncate(end)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pyarrow():
    try:
        import pyarrow
    except ImportError:
        raise FerlabError("Parquet needs pyarrow: pip install 'ferlab[parquet]' (or pyarrow itself)") from None
    return pyarrow


# -- annotated copies


def annotated_path(src: Path, out_dir: Path, roots: list[Path], several: bool = False) -> Path:
    """The input's place under --annotate. One folder given: the input's path below it. Several
    inputs (files, folders, stdin, a list): the input's path as given (without its root and any
    leading `..`), so `c1/x.jpg` and `c2/x.jpg` stay apart. PNG is kept as PNG, anything else
    becomes JPEG, with a suffix other than .jpg kept in the name (x.jpeg → x_jpeg_annotated.jpg)."""
    rel = Path(src.name)
    if several:
        rel = Path(*[part for part in Path(os.path.normpath(src)).parts if part not in ("..", src.anchor)])
    else:
        for r in roots:
            try:
                rel = src.resolve().relative_to(r.resolve())
                break
            except ValueError:
                continue
    suffix = ".png" if src.suffix.lower() == ".png" else ".jpg"
    kept = "" if src.suffix.lower() in (".png", ".jpg") else src.suffix.lower().replace(".", "_")
    return out_dir / rel.with_name(f"{rel.stem}{kept}_annotated{suffix}")


def write_annotated(result: ImageResult, target: Path) -> None:
    """The source drawn at its own resolution with each face's box, label and probabilities."""
    import cv2

    from ferlab.inference.annotate import annotate
    from ferlab.inference.images import open_image

    rgb = result.pixels
    if rgb is None or result.scale != 1.0:  # decoded reduced for the search: draw on the full image
        rgb = open_image(result.source)[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if target.suffix == ".jpg" else []
    ok, buf = cv2.imencode(target.suffix, annotate(rgb, result.faces), params)
    if not ok:
        raise FerlabError(f"{target}: could not encode image")
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(buf.tobytes()))
