"""Recognition over many images: inputs listed lazily, worker processes, results in input order.

`iter_inputs` walks folders, globs, list files and stdin without ever holding the whole list;
`recognize_stream` yields one `ImageResult` per input as soon as it (and every input before it)
is done. With workers > 1 each worker process builds its own `Recognizer` from the same frozen
`RecognizerOptions` and runs decode, detect and classify on a chunk of images at a time (the
chunk's faces in one model call); at most `2 × workers` chunks are in flight, so memory stays
flat however long the run.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ferlab.errors import FerlabError
from ferlab.options import RecognizerOptions
from ferlab.paths import IMAGE_EXTS


@dataclass
class InputCounts:
    """What listing the inputs left out: hidden files (macOS `._*` and the like) and files whose
    suffix is not an image's, by suffix."""

    hidden: int = 0
    unsupported: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        parts = []
        if self.hidden:
            parts.append(f"{self.hidden} hidden file(s)")
        if self.unsupported:
            n = sum(self.unsupported.values())
            kinds = ", ".join(f"{s or '(none)'} ×{c}" for s, c in self.unsupported.most_common(5))
            parts.append(f"{n} file(s) with a suffix that is not an image's ({kinds})")
        return "skipped " + "; ".join(parts) if parts else ""


def _hidden(name: str) -> bool:
    return name.startswith(".")


class BadInput(str):
    """An input found while listing that cannot be read (an unreadable folder, a link loop, a
    broken link): it goes through the run like any other and is recorded with status "error"
    and `error`, its one-line message."""

    error: str

    def __new__(cls, path: str, error: str) -> BadInput:
        s = super().__new__(cls, path)
        s.error = error
        return s

    def __reduce__(self):  # worker processes get it whole
        return BadInput, (str(self), self.error)


def _walk(folder: Path, counts: InputCounts, seen: set | None = None) -> Iterator[str]:
    """Images below a folder, depth first, each folder's entries sorted: a stable order that is
    never held whole (one folder's listing at a time). A folder that cannot be listed, a link
    back to a folder already listed and a broken link are yielded as BadInput, never raised."""
    from ferlab.inference.images import link_problem

    seen = set() if seen is None else seen
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            yield BadInput(
                str(folder), f"{folder}: a link to a folder already listed (a loop, or the same folder twice): skipped"
            )
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        yield BadInput(str(folder), f"{folder}: cannot list this folder ({e.strerror or e})")
        return
    for e in entries:
        if _hidden(e.name):
            if e.is_file():
                counts.hidden += 1
            continue
        if e.is_dir(follow_symlinks=True):
            yield from _walk(Path(e.path), counts, seen)
        elif e.is_file():
            suffix = os.path.splitext(e.name)[1].lower()
            if suffix in IMAGE_EXTS:
                yield e.path
            else:
                counts.unsupported[suffix] += 1
        elif e.is_symlink():
            yield BadInput(e.path, f"{e.path}: {link_problem(Path(e.path))}")


def read_list(path: str | os.PathLike) -> Iterator[str]:
    """Paths from a list file: .txt (one per line; blank lines and # comments skipped), or a .csv /
    .parquet table with a `path` column (read in batches)."""
    p = Path(path)
    if not p.is_file():
        raise FerlabError(f"{p}: --from-list: no such file")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise FerlabError(f"{p}: reading a Parquet list needs pyarrow: pip install 'ferlab[parquet]'") from None
        try:
            f = pq.ParquetFile(p)
        except Exception as e:  # pyarrow raises several types for a file that is not Parquet
            raise FerlabError(f"{p}: --from-list: not a readable Parquet file ({e})") from None
        if "path" not in f.schema_arrow.names:
            raise FerlabError(f"{p}: --from-list: no `path` column (columns: {', '.join(f.schema_arrow.names)})")
        return (v for b in f.iter_batches(columns=["path"]) for v in b.column(0).to_pylist() if v)
    try:
        fh = open(p, encoding="utf-8", newline="")
        first = fh.readline()
    except (OSError, UnicodeDecodeError) as e:
        raise FerlabError(f"{p}: --from-list: cannot read it ({e})") from None
    fh.seek(0)
    if suffix == ".csv":
        header = next(csv.reader([first]), [])
        if "path" not in header:
            fh.close()
            raise FerlabError(f"{p}: --from-list: no `path` column in its header ({', '.join(header)[:80]})")

        def rows() -> Iterator[str]:
            with fh:
                yield from (r["path"] for r in csv.DictReader(fh) if r.get("path"))

        return rows()

    def lines() -> Iterator[str]:
        with fh:
            for line in fh:
                s = line.strip()
                if s and not s.startswith("#"):
                    yield s

    return lines()


def stdin_paths(null: bool | None = None, stream=None) -> Iterator[str]:
    """Paths on standard input, one per line — or separated by NUL bytes (`find -print0`), as
    `null` says or, when None, as the first block read shows. Bytes become paths as the file
    system gives them (os.fsdecode), so names that are not UTF-8 survive."""
    if stream is None:
        stream = getattr(sys.stdin, "buffer", None) or io.BytesIO(os.fsencode(sys.stdin.read()))  # a text stream
    buf = b""
    sep = None if null is None else (b"\0" if null else b"\n")
    while chunk := stream.read(1 << 16):
        buf += chunk
        if sep is None:
            sep = b"\0" if b"\0" in buf else b"\n"
        *whole, buf = buf.split(sep)
        # NUL-separated names are taken as they are (a name may hold spaces or a newline)
        yield from (os.fsdecode(s) for w in whole if (s := w if sep == b"\0" else w.strip()))
    last = buf.rstrip(b"\n") if sep == b"\0" else buf.strip()
    if last:
        yield os.fsdecode(last)


def is_folder(item: str) -> bool:
    """Whether an input names a folder; a name the file system refuses (too long) is not one."""
    try:
        return Path(item).is_dir()
    except OSError:
        return False


def _exists(item: str) -> bool:
    try:
        return Path(item).exists()
    except OSError:
        return False


def iter_inputs(
    items: Iterable[str], *, from_list: str | None = None, counts: InputCounts | None = None, null: bool | None = None
) -> Iterator[str]:
    """Files, folders (recursive, images only, hidden files skipped), globs, `-` (paths on
    stdin, by line or NUL-separated: `stdin_paths`), then a list file's paths. A folder or
    pattern that yields nothing is an error naming it. Files named one by one are read whatever
    their suffix."""
    import glob

    counts = counts if counts is not None else InputCounts()
    for item in items:
        if item == "-":
            yield from stdin_paths(null)
        elif any(ch in item for ch in "*?[") and not _exists(item):
            n = 0
            for m in glob.iglob(item, recursive=True):
                if Path(m).is_file():
                    n += 1
                    yield m
            if not n:
                raise FerlabError(f"{item}: pattern matches no file")
        elif is_folder(item):
            n = 0
            for m in _walk(Path(item), counts):
                n += 1
                yield m
            if not n:
                raise FerlabError(
                    f"{item}: no images found in this folder or below (looked for {', '.join(sorted(IMAGE_EXTS))})"
                )
        else:
            yield item
    if from_list:
        yield from read_list(from_list)


def count_inputs(items: list[str], *, from_list: str | None = None) -> int | None:
    """How many inputs a run will see (for the progress bar's ETA); None when they come on stdin."""
    if "-" in items:
        return None
    return sum(1 for _ in iter_inputs(items, from_list=from_list))


# -- workers

_REC = None
_ANNOTATE: tuple[Path, list[Path], bool] | None = None


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed (kill -9 leaves no one to stop the pool) exits too."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _start_worker(options: RecognizerOptions, annotate: tuple[Path, list[Path], bool] | None, parent: int) -> None:
    global _REC, _ANNOTATE
    import cv2

    _exit_with_parent(parent)
    cv2.setNumThreads(1)  # one core per worker: the pool is the parallelism
    from ferlab.inference.recognizer import Recognizer

    _REC, _ANNOTATE = Recognizer(options=options), annotate


def _run_chunk(paths: list[str]):
    return _process(_REC, paths, _ANNOTATE)


def _process(rec, paths: list[str], annotate: tuple[Path, list[Path], bool] | None):
    from ferlab.inference.outputs import annotated_path, write_annotated
    from ferlab.inference.recognizer import ImageResult

    readable = [p for p in paths if not isinstance(p, BadInput)]
    done = iter(rec.run_batch(readable, keep_pixels=annotate is not None))
    results = [
        ImageResult(str(p), "error", [], error=p.error) if isinstance(p, BadInput) else next(done) for p in paths
    ]
    for r in results:
        if annotate is not None and r.status != "error":
            try:
                write_annotated(r, annotated_path(Path(r.source), *annotate))
            except (FerlabError, OSError) as e:
                r.status, r.error = "error", f"{r.source}: annotated copy not written ({e})"
        r.pixels = None  # not sent back across processes
    return results


def canonical(path: str) -> str:
    """One form of an input's path, so that `photos/a.jpg` and `/home/me/photos/a.jpg` are the
    same input when a run resumes (URIs are kept as they are), and a name that is not UTF-8 is
    the same in every output format (ferlab.inference.outputs.utf8_text)."""
    from ferlab.inference.outputs import utf8_text

    return utf8_text(path if "://" in path else os.path.abspath(path))


def _chunks(inputs: Iterable[str], size: int, skip: set[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    skip = {canonical(p) for p in skip}
    for p in inputs:
        if skip and canonical(p) in skip:
            continue
        chunk.append(p)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def recognize_stream(
    options: RecognizerOptions,
    inputs: Iterable[str],
    *,
    workers: int = 1,
    chunk: int = 8,
    skip: set[str] | None = None,
    annotate: tuple[Path, list[Path], bool] | None = None,
    recognizer=None,
) -> Iterator:
    """ImageResults in input order, each as soon as it and those before it are done. skip: inputs
    to leave out (already recorded by a resumed run). annotate: (folder, input roots, several inputs) to write
    annotated copies from the workers. recognizer: an already built one for workers=1."""
    skip = skip or set()
    if workers <= 1:
        from ferlab.inference.recognizer import Recognizer

        rec = recognizer or Recognizer(options=options)
        for paths in _chunks(inputs, chunk, skip):
            yield from _process(rec, paths, annotate)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the workers start clean (no onnxruntime thread pools copied mid-flight by fork)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=mp.get_context("spawn"),
        initializer=_start_worker,
        initargs=(options.replace(threads=1), annotate, os.getpid()),
    )
    pending: deque = deque()
    finished = False
    try:
        for paths in _chunks(inputs, chunk, skip):
            pending.append(pool.submit(_run_chunk, paths))
            while len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
        finished = True
    finally:
        # a finished run waits for its workers to exit (not waiting leaves the pool's threads to be
        # torn down at interpreter exit: "Exception ignored ... Bad file descriptor"); an
        # interrupted one does not wait for chunks nobody will read
        pool.shutdown(wait=finished, cancel_futures=True)
