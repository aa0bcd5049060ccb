"""FER+ labels (Barsoum et al. 2016: 10 crowd votes per FER-2013 image) on any FER-2013 source.

Three ways users hold FER+, one result: per image a row of 10 vote counts in the FER+ column
order, then a label mode that turns votes into what training and evaluation use.

- the FERPlus folder layout (`FER2013Train|Valid|Test/` with PNGs and `label.csv`, folder or zip):
  the votes come from each split's `label.csv`, as FERPlus's own `train.py` reads them;
- `fer2013.csv` (+ `fer2013new.csv`, same row order): row i's votes are row i of the vote file;
- the Kaggle layout (folder or zip): each file's votes through the pixel-matched join table.

The vote file and the join table ship inside ferlab (MIT, `ferplus_labels/`), so `--labels
ferplus-majority` works on the plain Kaggle download or `fer2013.csv` with nothing to fetch.

Label modes (the 7 classes in FER-2013 order; a mode ending in 8 keeps contempt as an eighth class,
index 7, FER+'s own 8-class protocol, the one Barsoum et al. report):
- `original`: the FER-2013 label (one annotator);
- `ferplus-majority`: FERPlus's `majority` protocol — vote counts of 1 are set to 0 (outliers),
  the top class is kept only with more than half of the remaining votes; images whose top class
  is unknown, not-a-face or (7 classes) contempt, or that have no such majority, are dropped.
  A tie can never pass "more than half", so tied images are dropped too;
- `ferplus-soft`: train on the vote distribution over the 7 classes (after the same outlier
  removal), for images where those 7 classes hold more than half of the remaining votes; the
  val and test splits keep the majority protocol, so selection and reports stay comparable;
- `ferplus-majority8`, `ferplus-soft8`: the same over 8 classes, contempt included.
"""

from __future__ import annotations

import csv
import gzip
import io
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ferlab.errors import FerlabError
from ferlab.labels import CLASSES, CLASSES_8, classes_for

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# FER+ vote column → index in CLASSES; contempt, unknown and NF have no FER-2013 class
COLUMN_CLASS = {0: "neutral", 1: "happy", 2: "surprise", 3: "sad", 4: "angry", 5: "disgust", 6: "fear", 7: "contempt"}
LABEL_MODES = ("original", "ferplus-majority", "ferplus-soft", "ferplus-majority8", "ferplus-soft8")
FERPLUS_MODES = LABEL_MODES[1:]
SPLIT_DIRS = {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"}
USAGE_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
VOTE_ROWS = 35_887  # rows of fer2013new.csv, one per row of fer2013.csv


def check_mode(mode: str) -> str:
    if mode not in LABEL_MODES:
        raise FerlabError(f"unknown label mode {mode!r} (use {', '.join(LABEL_MODES)})")
    return mode


def mode_classes(mode: str | None) -> tuple[str, ...]:
    """The classes a label mode gives: FER+'s 8 for the modes ending in 8, else FER-2013's 7."""
    return CLASSES_8 if (mode or "").endswith("8") else CLASSES


def evaluation_labels(mode: str | None, classes, model: str) -> str | None:
    """The label mode a model is scored on: a soft mode's majority protocol (soft labels are a
    training target), FER+'s 8-class protocol by default for an 8-class model; labels with other
    classes than the model's are refused in one line."""
    n = len(classes)
    if mode is None:
        return "ferplus-majority8" if n == len(CLASSES_8) else None
    mode = mode.replace("-soft", "-majority")
    if len(mode_classes(mode)) != n:
        fits = "ferplus-majority8" if n == len(CLASSES_8) else "original or ferplus-majority"
        article = "an" if n == len(CLASSES_8) else "a"
        raise FerlabError(
            f"{model}: {article} {n}-class model ({', '.join(classes)}) cannot be scored on {mode} labels "
            f"({len(mode_classes(mode))} classes); use --labels {fits}"
        )
    return mode


def _columns(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The vote columns that are classes, and each one's index in the class list."""
    classes = classes_for(n_classes)
    cols = np.array([c for c, name in COLUMN_CLASS.items() if name in classes])
    return cols, np.array([classes.index(COLUMN_CLASS[c]) for c in cols])


# ----------------------------------------------------------------------------- votes → labels


def _clean(votes: np.ndarray) -> np.ndarray:
    v = np.asarray(votes, dtype=np.float64).copy()
    v[v <= 1] = 0  # FERPlus's outlier removal: a class with one vote is noise
    return v


def majority_labels(votes: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """(N, 10) vote counts → (N,) class index (in CLASSES, or CLASSES_8 with n_classes 8), or -1
    where the majority protocol drops the image (no class with more than half the votes left after
    outlier removal, or a majority for unknown, not-a-face or, with 7 classes, contempt)."""
    cols, to_class = _columns(n_classes)
    v = _clean(votes)
    total = v.sum(1)
    top = v.argmax(1)
    has_majority = v[np.arange(len(v)), top] * 2 > total
    out = np.full(len(v), -1, dtype=np.int64)
    emotion = has_majority & (top < len(cols)) & (total > 0)
    out[emotion] = to_class[top[emotion]]
    return out


def soft_labels(votes: np.ndarray, n_classes: int = len(CLASSES)) -> tuple[np.ndarray, np.ndarray]:
    """(N, 10) votes → ((N, n_classes) float32 distribution in class order, (N,) keep mask): the
    emotions' votes after outlier removal, normalised, where they hold more than half of all
    remaining votes (so images most voters called unknown, not a face or — with 7 classes —
    contempt drop out)."""
    cols, to_class = _columns(n_classes)
    v = _clean(votes)
    emo = v[:, cols]
    keep = (emo.sum(1) * 2 > v.sum(1)) & (emo.sum(1) > 0)
    dist = np.zeros((len(v), n_classes), dtype=np.float32)
    dist[:, to_class] = emo / np.maximum(emo.sum(1, keepdims=True), 1)
    return dist, keep


# ----------------------------------------------------------------------------- shipped tables


def _shipped(name: str):
    return resources.files("ferlab.data").joinpath("ferplus_labels", name)


def read_vote_file(path: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """fer2013new.csv (the shipped copy when `path` is None) → ((rows, 10) uint8 votes, usages),
    checked: its header and every row's 10 counts (the row count is checked against the source
    it joins)."""
    if path is None:
        with _shipped("fer2013new.csv.gz").open("rb") as fh:
            text = gzip.decompress(fh.read()).decode("utf-8")
        where = "ferlab's shipped fer2013new.csv"
    else:
        p = Path(path)
        where = str(p)
        try:
            raw = p.read_bytes()
        except OSError as e:
            raise FerlabError(f"{p}: cannot read the FER+ vote file ({e.strerror})") from None
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8-sig", errors="replace")
    return _parse_votes(text, where)


@lru_cache(maxsize=4)
def _parse_votes(text: str, where: str) -> tuple[np.ndarray, list[str]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    want = ["Usage", "Image name", *VOTE_COLUMNS]
    if header != want:
        raise FerlabError(
            f"{where}: wrong columns {','.join(header)[:120]!r}; a FER+ vote file (fer2013new.csv) has {','.join(want)}"
        )
    usages, votes = [], []
    for i, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            counts = [int(x) for x in row[2:12]]
        except ValueError:
            counts = []
        if len(row) != 12 or len(counts) != 10 or min(counts) < 0:
            raise FerlabError(f"{where}: row {i}: expected Usage, Image name and 10 vote counts")
        usages.append(row[0].strip())
        votes.append(counts)
    if not votes:
        raise FerlabError(f"{where}: no vote rows")
    return np.asarray(votes, dtype=np.uint8), usages


@lru_cache(maxsize=1)
def kaggle_rows() -> dict[str, int]:
    """The shipped join: Kaggle-layout path (`train/<class>/Training_<id>.jpg`) → fer2013new.csv row
    (matched images only)."""
    with _shipped("kaggle_to_ferplus.csv.gz").open("rb") as fh:
        text = gzip.decompress(fh.read()).decode("utf-8")
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["ferplus_row"]:
            out[row["kaggle"]] = int(row["ferplus_row"])
    return out


def kaggle_key(name: str) -> str:
    """A file's name inside a user's Kaggle copy → the join table's key: its last three parts
    (`train/angry/Training_1.jpg`), whatever folder the copy was unpacked into."""
    return "/".join(name.replace("\\", "/").split("/")[-3:])


# ----------------------------------------------------------------------------- attach votes to a source


def join_votes(source: str, kind: str, records: dict, votes_file: str | None = None) -> dict[str, np.ndarray]:
    """Votes for every image of a decoded source, per split: (N, 10) int16, -1 rows where the
    image has no FER+ row. `kind` is "kaggle", "csv" or "ferplus" (the reader's own votes)."""
    if kind == "ferplus":
        return {s: np.asarray(r["votes"], dtype=np.int16) for s, r in records.items()}
    votes, usages = read_vote_file(votes_file)
    vote_where = votes_file or "ferlab's shipped fer2013new.csv"
    out = {}
    if kind == "csv":
        n = sum(len(r["names"]) for r in records.values())
        if n != len(votes):
            raise FerlabError(
                f"{source}: {n} rows, but {vote_where} has {len(votes)}: FER+ votes join fer2013.csv by row order, "
                "so both must be complete (the original fer2013.csv has 35,887 rows)"
            )
        for split, r in records.items():
            rows = np.array([int(name[3:]) - 2 for name in r["names"]])  # names are "row<line>", header = line 1
            bad = [i for i, row in enumerate(rows) if USAGE_SPLIT.get(usages[row]) not in (split, None)]
            if bad:
                i = bad[0]
                raise FerlabError(
                    f"{source}: {r['names'][i]} is {split} but {vote_where} row {rows[i] + 2} is {usages[rows[i]]}: "
                    "the two files are not in the same row order"
                )
            out[split] = votes[rows].astype(np.int16)
        return out
    if len(votes) != VOTE_ROWS:
        raise FerlabError(
            f"{vote_where}: {len(votes)} rows; the Kaggle join needs the complete fer2013new.csv ({VOTE_ROWS} rows)"
        )
    table = kaggle_rows()
    found = 0
    for split, r in records.items():
        v = np.full((len(r["names"]), len(VOTE_COLUMNS)), -1, dtype=np.int16)
        for i, name in enumerate(r["names"]):
            row = table.get(kaggle_key(name))
            if row is not None:
                v[i] = votes[row]
                found += 1
        out[split] = v
    if found == 0:
        raise FerlabError(
            f"{source}: none of its files is in the FER+ join table (expected Kaggle names such as "
            "train/angry/Training_10118481.jpg); use the FERPlus folder layout or fer2013.csv instead"
        )
    return out


def relabel(labels: np.ndarray, votes: np.ndarray, mode: str, split: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(new labels, soft targets or None, counts) for one split; rows with a label of -1 are the
    ones to drop. Soft targets are for training only: val and test use the majority protocol."""
    unmatched = votes[:, 0] < 0
    v = np.where(unmatched[:, None], 0, votes)
    k = len(mode_classes(mode))
    if mode.startswith("ferplus-soft") and split == "train":
        dist, keep = soft_labels(v, k)
        keep &= ~unmatched
        new = np.where(keep, dist.argmax(1), -1)
        soft = dist
    else:
        new = majority_labels(v, k)
        new[unmatched] = -1
        soft = None
    counts = {
        "images": len(labels),
        "kept": int((new >= 0).sum()),
        "not_in_ferplus": int(unmatched.sum()),
        "no_usable_label": int(((new < 0) & ~unmatched).sum()),
    }
    if (new >= 0).any() and len(labels):
        both = new >= 0
        counts["agree_with_original"] = float((new[both] == labels[both]).mean())
    return new, soft, counts


# ----------------------------------------------------------------------------- FERPlus folder layout


def find_ferplus_root(names: list[str]) -> str | None:
    """The prefix under which FER2013Train|Valid|Test/ sit in a listing, or None if not FERPlus."""
    for n in names:
        parts = n.split("/")
        for i, p in enumerate(parts[:-1]):
            if p in SPLIT_DIRS:
                return "/".join(parts[:i])
    return None


def parse_label_csv(text: str, where: str) -> dict[str, list[int]]:
    """FERPlus label.csv → {png name: 10 votes}. Rows: name, face box, 10 counts (no header)."""
    out = {}
    for i, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        try:
            counts = [int(x) for x in row[2:]]
        except ValueError:
            counts = []
        if len(counts) != len(VOTE_COLUMNS) or min(counts) < 0:
            raise FerlabError(
                f"{where}: row {i}: expected image name, face box and 10 vote counts ({', '.join(VOTE_COLUMNS)})"
            )
        out[row[0].strip()] = counts
    if not out:
        raise FerlabError(f"{where}: no rows")
    return out
