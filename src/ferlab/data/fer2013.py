"""Read FER-2013 from the Kaggle layout (folder or .zip) or the original fer2013.csv.

Both give the same in-memory form: per split, a uint8 tensor N×48×48, int64 labels and the
source name of each image. Decoding happens once; the result is cached as .npz under the user
cache dir, keyed by the source's path, size and modification times, so later runs load in a second.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ferlab.data.ferplus import FERPLUS_MODES, SPLIT_DIRS, check_mode, find_ferplus_root, join_votes, relabel
from ferlab.errors import FerlabError
from ferlab.labels import CLASSES, NUM_CLASSES, canonical_class, classes_for
from ferlab.paths import IMAGE_EXTS, cache_dir

if TYPE_CHECKING:
    import torch

SIZE = 48
READER_VERSION = 3  # bump when decoding changes, so stale caches are not reused
SPLITS = ("train", "val", "test")
PREFIX_SPLIT = {"training": "train", "publictest": "val", "privatetest": "test"}
USAGE_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
TRAIN_DIRS = {"train", "training"}
TEST_DIRS = {"test", "testing"}
VAL_DIRS = {"val", "valid", "validation", "publictest"}


@dataclass
class Split:
    images: torch.Tensor  # uint8, N×48×48
    labels: torch.Tensor  # int64, N
    names: list[str]
    soft: torch.Tensor | None = None  # float32 N×7 (or N×8) label distributions (FER+ votes), training only

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(np.asarray(self.labels), minlength=NUM_CLASSES).tolist()
        return dict(zip(classes_for(len(counts)), counts, strict=True))  # 8 with FER+'s contempt

    def subset(self, index) -> Split:
        index = np.asarray(index, dtype=np.int64)
        soft = self.soft[index] if self.soft is not None else None
        return Split(self.images[index], self.labels[index], [self.names[i] for i in index.tolist()], soft)

    def limited(self, n: int | None, seed: int = 0) -> Split:
        """A seeded subset of n images stratified across classes (the whole split when n is None
        or ≥ its size): every class keeps its share, and each class present keeps at least one
        image when n allows, so a small evaluation never holds a single class."""
        if not n or n >= len(self):
            return self
        return self.subset(stratified_subset(np.asarray(self.labels), n, seed))


@dataclass
class ReadStats:
    """What reading found: formats, conversions and the files it could not use."""

    modes: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    converted_mode: int = 0
    resized: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "kaggle"  # the source's layout: kaggle, csv or ferplus

    def to_dict(self) -> dict:
        return {
            "modes": self.modes,
            "sizes": self.sizes,
            "converted_mode": self.converted_mode,
            "resized": self.resized,
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ReadStats:
        return cls(
            d["modes"],
            d["sizes"],
            d["converted_mode"],
            d["resized"],
            [(s["file"], s["reason"]) for s in d["skipped"]],
            d.get("kind", "kaggle"),
        )


@dataclass
class FerData:
    source: str
    splits: dict[str, Split]
    notes: list[str]
    stats: ReadStats
    # blake2b of each file's bytes (Kaggle) or pixel string (csv), aligned with splits[...].names
    byte_hashes: dict[str, list[str]] = field(default_factory=dict)
    labels: str = "original"  # the label mode (ferlab.data.ferplus.LABEL_MODES)
    # per split, what a FER+ label mode kept and dropped (images, kept, not_in_ferplus, no_usable_label)
    label_counts: dict[str, dict] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        if name not in self.splits or len(self.splits[name]) == 0:
            if self.stats.kind == "ferplus":
                folder = {v: k for k, v in SPLIT_DIRS.items()}[name] if name in SPLIT_DIRS.values() else name
                raise FerlabError(
                    f"{self.source}: no {folder}/ folder with label.csv and images for the '{name}' split"
                )
            if name == "test":
                raise FerlabError(
                    f"{self.source}: no test split — the data has no PrivateTest images "
                    "(this copy holds Training and PublicTest only); use --split val"
                )
            raise FerlabError(f"{self.source}: no '{name}' split in this data")
        return self.splits[name]


# ----------------------------------------------------------------------------- decoding


def _read_face(read, name: str, path, stats, strict: bool):
    """(bytes, 48×48 face) of one image file, or (None, None) when it is skipped as unreadable
    (recorded in stats; with `strict` an error naming it)."""
    try:
        data = read()
        return data, decode_face(data, stats)
    except ValueError as e:
        if strict:
            raise FerlabError(f"{path}: {name}: {e}") from None
        stats.skipped.append((name, str(e)))
        return None, None


def decode_face(data: bytes, stats: ReadStats | None = None) -> np.ndarray:
    """Bytes of any image PIL reads → uint8 48×48 grayscale. Raises ValueError with a reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                mode, size = opened.mode, opened.size
                im = opened.convert("L") if mode != "L" else opened
                if im.size != (SIZE, SIZE):
                    im = im.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"refused as a decompression bomb ({e})") from None
    except Exception as e:  # PIL raises many types for broken files; all mean "unreadable"
        reason = str(e) or type(e).__name__
        if not data:
            reason = "empty file (0 bytes)"
        raise ValueError(f"not a readable image: {reason}") from None
    if stats is not None:
        stats.modes[mode] = stats.modes.get(mode, 0) + 1
        key = f"{size[0]}x{size[1]}"
        stats.sizes[key] = stats.sizes.get(key, 0) + 1
        stats.converted_mode += mode != "L"
        stats.resized += size != (SIZE, SIZE)
    return arr


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


# ----------------------------------------------------------------------------- Kaggle layout


def _iter_kaggle(path: Path) -> Iterator[tuple[str, callable]]:
    """(relative name, reader of bytes) for every file in a folder or zip."""
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                p = Path(root) / f
                yield p.relative_to(path).as_posix(), p.read_bytes
    else:
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise FerlabError(f"{path}: not a readable zip file") from None
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if not info.is_dir():
                yield info.filename, (lambda info=info: zf.read(info))


def _split_from_prefix(filename: str) -> str | None:
    stem = filename.lower()
    for prefix, split in PREFIX_SPLIT.items():
        if stem.startswith(prefix + "_") or stem.startswith(prefix + "-"):
            return split
    return None


def _read_kaggle(path: Path, strict: bool) -> dict:
    stats = ReadStats()
    recs: dict[str, dict[str, list]] = {}
    dirs_seen: set[str] = set()
    unknown_classes: set[str] = set()
    for name, read in _iter_kaggle(path):
        parts = name.split("/")
        if parts[-1].startswith(".") or "__MACOSX" in parts:
            continue
        if Path(parts[-1]).suffix.lower() not in IMAGE_EXTS:
            continue
        # the split folder is the last train/test/val component above the class folder
        idx = None
        for i in range(len(parts) - 2, -1, -1):
            if parts[i].lower() in TRAIN_DIRS | TEST_DIRS | VAL_DIRS and i == len(parts) - 3:
                idx = i
                break
        if idx is None:
            continue
        top = parts[idx].lower()
        dir_split = "train" if top in TRAIN_DIRS else "val" if top in VAL_DIRS else "test?"
        dirs_seen.add(dir_split)
        cls = canonical_class(parts[idx + 1])
        if cls is None:
            unknown_classes.add(f"{parts[idx]}/{parts[idx + 1]}")
            continue
        split = _split_from_prefix(parts[-1]) or dir_split
        data, img = _read_face(read, name, path, stats, strict)
        if img is None:
            continue
        r = recs.setdefault(split, {"images": [], "labels": [], "names": [], "hashes": []})
        r["images"].append(img)
        r["labels"].append(CLASSES.index(cls))
        r["names"].append(name)
        r["hashes"].append(_hash(data))
    if unknown_classes:
        raise FerlabError(
            f"{path}: unknown class folder(s) {', '.join(sorted(unknown_classes))}; "
            f"expected one of {', '.join(CLASSES)} (or a common alias such as anger, happiness)"
        )
    if "train" not in dirs_seen:
        raise FerlabError(
            f"{path}: no train/<class>/ images found — expected the Kaggle layout "
            "train/<class>/*.jpg and test/<class>/*.jpg, or a fer2013.csv"
        )
    return {"records": recs, "stats": stats}


# ----------------------------------------------------------------------------- fer2013.csv


def _read_csv(path: Path, strict: bool) -> dict:
    stats = ReadStats()
    recs: dict[str, dict[str, list]] = {}
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise FerlabError(f"{path}: cannot open ({e.strerror})") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise FerlabError(f"{path}: empty file — expected a header emotion,pixels,Usage") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise FerlabError(f"{path}: not a readable csv ({e})") from None
        cols = {h.lower(): i for i, h in enumerate(header)}
        missing = [c for c in ("emotion", "pixels") if c not in cols]
        if missing:
            raise FerlabError(
                f"{path}: wrong columns {header!r}; expected emotion,pixels,Usage (missing: {', '.join(missing)})"
            )
        ie, ip, iu = cols["emotion"], cols["pixels"], cols.get("usage")
        row_no = 1
        try:
            for row in reader:
                row_no += 1
                if not row:
                    continue
                where = f"{path}: row {row_no}"
                try:
                    label = int(row[ie])
                except (ValueError, IndexError):
                    value = row[ie] if ie < len(row) else ""
                    raise FerlabError(f"{where}: emotion {value!r} is not an integer 0..6") from None
                if not 0 <= label < NUM_CLASSES:
                    raise FerlabError(f"{where}: emotion {label} out of range 0..6")
                pix_s = row[ip] if ip < len(row) else ""
                try:
                    pix = np.array(pix_s.split(), dtype=np.int64)
                except ValueError:
                    raise FerlabError(f"{where}: pixels contains a value that is not an integer") from None
                if pix.size != SIZE * SIZE:
                    raise FerlabError(f"{where}: pixels has {pix.size} values, expected {SIZE * SIZE} (48×48)")
                if pix.min() < 0 or pix.max() > 255:
                    raise FerlabError(f"{where}: pixel values must lie in 0..255")
                if iu is None:
                    split = "train?"
                else:
                    usage = row[iu].strip() if iu < len(row) else ""
                    if usage not in USAGE_SPLIT:
                        raise FerlabError(f"{where}: Usage {usage!r} is not one of Training, PublicTest, PrivateTest")
                    split = USAGE_SPLIT[usage]
                r = recs.setdefault(split, {"images": [], "labels": [], "names": [], "hashes": []})
                r["images"].append(pix.astype(np.uint8).reshape(SIZE, SIZE))
                r["labels"].append(label)
                r["names"].append(f"row{row_no}")
                r["hashes"].append(_hash(pix_s.strip().encode()))
        except csv.Error as e:
            raise FerlabError(f"{path}: row {row_no}: malformed csv ({e})") from None
    n = sum(len(r["labels"]) for r in recs.values())
    if n == 0:
        raise FerlabError(f"{path}: no data rows")
    stats.modes = {"L": n}
    stats.kind = "csv"
    stats.sizes = {f"{SIZE}x{SIZE}": n}
    if "train?" in recs:
        recs["train"] = recs.pop("train?")
    if "train" not in recs:
        raise FerlabError(f"{path}: no Training rows — nothing to train on")
    return {"records": recs, "stats": stats}


# ----------------------------------------------------------------------------- FERPlus folder layout


def is_ferplus_source(path: Path) -> bool:
    """A folder or zip in the FERPlus layout (FER2013Train|Valid|Test/ at its top or one level down)."""
    if path.is_dir():
        return any((path / d).is_dir() for d in SPLIT_DIRS)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return find_ferplus_root(zf.namelist()) is not None
    return False


def _read_ferplus(path: Path, strict: bool) -> dict:
    """FER2013Train|Valid|Test/ with `label.csv` and PNGs; each split folder present needs its
    label.csv. Images get their label.csv votes; PNGs without a row are skipped and counted."""
    from ferlab.data.ferplus import parse_label_csv

    files = dict(_iter_kaggle(path))
    root = find_ferplus_root(list(files))
    prefix = f"{root}/" if root else ""
    stats = ReadStats(kind="ferplus")
    recs: dict[str, dict[str, list]] = {}
    for folder, split in SPLIT_DIRS.items():
        inside = [n for n in files if n.startswith(f"{prefix}{folder}/")]
        if not inside:
            continue
        label_file = f"{prefix}{folder}/label.csv"
        if label_file not in files:
            raise FerlabError(
                f"{path}: {folder}/label.csv not found — each FERPlus split folder needs the label.csv that "
                "microsoft/FERPlus ships (data/{folder}/label.csv)"
            )
        where = f"{path}/{label_file}" if path.is_dir() else f"{path}: {label_file}"
        votes = parse_label_csv(files[label_file]().decode("utf-8-sig", errors="replace"), where)
        r = recs.setdefault(split, {"images": [], "labels": [], "names": [], "hashes": [], "votes": []})
        for name in sorted(inside):
            base = name.rsplit("/", 1)[-1]
            if base.startswith(".") or Path(base).suffix.lower() not in IMAGE_EXTS:
                continue
            if base not in votes:
                stats.skipped.append((name, "not listed in label.csv"))
                continue
            data, img = _read_face(files[name], name, path, stats, strict)
            if img is None:
                continue
            r["images"].append(img)
            r["labels"].append(-1)  # FERPlus folders carry no FER-2013 label: only the votes
            r["names"].append(name)
            r["hashes"].append(_hash(data))
            r["votes"].append(votes[base])
    if not recs:
        raise FerlabError(f"{path}: no FER2013Train/, FER2013Valid/ or FER2013Test/ images found")
    return {"records": recs, "stats": stats}


def _apply_labels(source: str, raw: dict, mode: str, votes_file: str | None) -> tuple[dict, list[str], dict]:
    """Records relabelled by a FER+ mode: rows without a usable label dropped and counted."""
    kind = raw["stats"].kind
    votes = join_votes(source, kind, raw["records"], votes_file)
    recs, notes, counts = {}, [], {}
    for split, r in raw["records"].items():
        labels = np.asarray(r["labels"])
        new, soft, c = relabel(labels, votes[split], mode, split)
        if kind == "ferplus":
            c.pop("agree_with_original", None)
        keep = np.flatnonzero(new >= 0)
        images = r["images"] if isinstance(r["images"], np.ndarray) else np.stack(r["images"])
        recs[split] = {
            "images": images[keep],
            "labels": new[keep],
            "names": [r["names"][i] for i in keep],
            "hashes": [r["hashes"][i] for i in keep],
        }
        if soft is not None:
            recs[split]["soft"] = soft[keep]
        counts[split] = c
        dropped = c["images"] - c["kept"]
        how = "vote distributions" if soft is not None else "majority labels"
        notes.append(
            f"{split}: FER+ {how} for {c['kept']} of {c['images']} images; skipped {dropped} "
            f"({c['no_usable_label']} with no usable FER+ label, {c['not_in_ferplus']} not in FER+)"
        )
    return {"records": recs, "stats": raw["stats"]}, notes, counts


def _ferplus_protocol(source: str, raw: dict) -> FerData:
    """FERPlus's own splits: FER2013Train → train, FER2013Valid → val, FER2013Test → test."""
    recs = raw["records"]
    splits = {k: _as_split(recs[k]) for k in SPLITS if k in recs}
    hashes = {k: list(recs[k]["hashes"]) for k in SPLITS if k in recs}
    notes = ["FERPlus layout: train=FER2013Train, val=FER2013Valid, test=FER2013Test"]
    return FerData(source, splits, notes, raw["stats"], hashes)


# ----------------------------------------------------------------------------- protocol + cache


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256(f"{READER_VERSION}|{path.resolve()}".encode())
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                st = os.stat(os.path.join(root, f))
                h.update(f"{root}/{f}|{st.st_size}|{st.st_mtime_ns}".encode())
    else:
        st = path.stat()
        h.update(f"{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _save_cache(file: Path, raw: dict) -> None:
    arrays = {}
    for split, r in raw["records"].items():
        arrays[f"{split}/images"] = np.stack(r["images"]) if r["images"] else np.zeros((0, SIZE, SIZE), np.uint8)
        arrays[f"{split}/labels"] = np.asarray(r["labels"], dtype=np.int64)
        arrays[f"{split}/names"] = np.asarray(r["names"], dtype=str)
        arrays[f"{split}/hashes"] = np.asarray(r["hashes"], dtype=str)
        if "votes" in r:
            arrays[f"{split}/votes"] = np.asarray(r["votes"], dtype=np.int16).reshape(-1, 10)
    arrays["stats"] = np.asarray(json.dumps(raw["stats"].to_dict()))
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, file)
    except OSError as e:  # a read-only cache is a slowdown, not a failure
        print(f"ferlab: could not write data cache {file} ({e.strerror})", file=sys.stderr)


def _load_cache(file: Path) -> dict | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            recs: dict[str, dict] = {}
            for key in z.files:
                if key == "stats":
                    continue
                split, what = key.split("/")
                recs.setdefault(split, {})[what] = z[key]
            stats = ReadStats.from_dict(json.loads(str(z["stats"])))
    except Exception:  # a damaged cache is simply rebuilt
        return None
    for r in recs.values():
        r["names"] = r["names"].tolist()
        r["hashes"] = r["hashes"].tolist()
    return {"records": recs, "stats": stats}


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of n items, each class's count proportional to its share (largest remainders),
    at least one per present class while n allows; seeded."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts / counts.sum() * n
    take = np.minimum(np.floor(share).astype(int), counts)
    if n >= len(classes):
        take = np.maximum(take, 1)
    # hand out what is left by largest remainder, then take back any excess from the biggest classes
    for i in np.argsort(-(share - np.floor(share))):
        if take.sum() >= n:
            break
        if take[i] < counts[i]:
            take[i] += 1
    while take.sum() > n:
        take[np.argmax(take)] -= 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, carved): `fraction` of every class carved out, reproducibly."""
    rng = np.random.default_rng(seed)
    carved = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        carved.append(idx[: round(len(idx) * fraction)])
    carved_idx = np.sort(np.concatenate(carved))
    keep = np.setdiff1d(np.arange(len(labels)), carved_idx)
    return keep, carved_idx


def _as_split(r: dict) -> Split:
    """Torch tensors for training; numpy arrays on the light install (evaluating needs no torch)."""
    images = r["images"] if isinstance(r["images"], np.ndarray) else np.stack(r["images"])
    try:
        import torch
    except ImportError:
        soft = np.asarray(r["soft"], np.float32) if r.get("soft") is not None else None
        return Split(np.ascontiguousarray(images, np.uint8), np.asarray(r["labels"], np.int64), list(r["names"]), soft)
    return Split(
        torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
        torch.as_tensor(np.asarray(r["labels"]), dtype=torch.long),
        list(r["names"]),
        torch.as_tensor(np.asarray(r["soft"]), dtype=torch.float32) if r.get("soft") is not None else None,
    )


def apply_protocol(source: str, raw: dict, val_fraction: float = 0.1, seed: int = 0) -> FerData:
    """ICML protocol: Training → train, PublicTest → val, PrivateTest → test.

    Without PublicTest images, a seeded stratified val split is carved from train, and said so.
    """
    recs = {k: v for k, v in raw["records"].items() if len(v["labels"])}
    notes: list[str] = []
    if "test?" in recs:  # test/ files without ICML prefixes: a plain held-out test folder
        t = recs.pop("test?")
        if "test" in recs:
            for k in t:
                recs["test"][k] = [*recs["test"][k], *t[k]]
        else:
            recs["test"] = t
    train = recs["train"]
    labels = np.asarray(train["labels"])
    missing = [CLASSES[c] for c in range(NUM_CLASSES) if not (labels == c).any()]
    if missing:
        raise FerlabError(f"{source}: class(es) {', '.join(missing)} have no training images")
    if "val" not in recs:
        keep, carved = stratified_split(labels, val_fraction, seed)
        pick = lambda r, idx: {
            k: [r[k][i] for i in idx] for k in ("images", "labels", "names", "hashes", "soft") if k in r
        }
        recs["val"] = pick(train, carved)
        recs["train"] = pick(train, keep)
        notes.append(f"no PublicTest images: carved a stratified {val_fraction:.0%} val split from train (seed {seed})")
    else:
        notes.append("official protocol: train=Training, val=PublicTest, test=PrivateTest")
    if "test" not in recs:
        notes.append("no PrivateTest images: the test split is empty; report val (PublicTest) numbers")
    splits = {k: _as_split(recs[k]) for k in SPLITS if k in recs}
    hashes = {k: list(recs[k]["hashes"]) for k in SPLITS if k in recs}
    return FerData(source, splits, notes, raw["stats"], hashes)


def load_fer2013(
    path: str | os.PathLike,
    *,
    labels: str | None = None,
    votes: str | os.PathLike | None = None,
    strict: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    use_cache: bool = True,
) -> FerData:
    """Read FER-2013 from a Kaggle folder/zip, fer2013.csv or the FERPlus folder layout, applying
    the ICML protocol (FERPlus: its own three folders).

    `labels`: "original" (the FER-2013 label; the default), "ferplus-majority" or "ferplus-soft"
    (ferlab.data.ferplus; the default for a FERPlus layout, which has no original labels). `votes`:
    a fer2013new.csv to use instead of the copy ferlab ships."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FerlabError(f"{p}: no such file or folder (expected a FER-2013 folder, .zip or fer2013.csv)")
    is_csv = p.is_file() and p.suffix.lower() == ".csv"
    if p.is_file() and not is_csv and not zipfile.is_zipfile(p):
        if p.suffix.lower() == ".zip":
            raise FerlabError(
                f"{p}: a corrupt or truncated zip (no central directory at its end, {p.stat().st_size:,} bytes); "
                "download it again"
            )
        raise FerlabError(f"{p}: not a FER-2013 source — expected a folder, a .zip of the Kaggle layout, or a .csv")
    is_ferplus = not is_csv and is_ferplus_source(p)
    if labels is None:
        labels = "ferplus-majority" if is_ferplus else "original"
    check_mode(labels)
    if is_ferplus and labels == "original":
        raise FerlabError(
            f"{p}: a FERPlus layout holds FER+ votes, not the original FER-2013 labels; "
            "use --labels ferplus-majority or ferplus-soft (or the Kaggle copy for original labels)"
        )
    raw = None
    cache_file = cache_dir() / "data" / f"{_fingerprint(p)}{'-strict' if strict else ''}.npz"
    if use_cache and cache_file.exists():
        raw = _load_cache(cache_file)
    if raw is None:
        raw = _read_csv(p, strict) if is_csv else _read_ferplus(p, strict) if is_ferplus else _read_kaggle(p, strict)
        if use_cache:
            _save_cache(cache_file, raw)
    notes: list[str] = []
    counts: dict = {}
    if labels in FERPLUS_MODES:
        raw, notes, counts = _apply_labels(str(p), raw, labels, str(votes) if votes else None)
    if is_ferplus:
        data = _ferplus_protocol(str(p), raw)
    else:
        data = apply_protocol(str(p), raw, val_fraction=val_fraction, seed=seed)
    data.notes += notes
    data.labels, data.label_counts = labels, counts
    return data
