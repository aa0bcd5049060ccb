"""Small FER-2013-shaped data, generated per test: Kaggle folders, zips and csvs."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferlab.labels import CLASSES

# Hub look-ups must fail at once in tests, not after retries (no internet here).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "fer2013-no-private.zip"


# A real photo: Grace Hopper, one frontal face — the public-domain sample that ships inside ferlab
# (`ferlab predict --sample`), so loading the tests needs nothing beyond the light install.
PHOTO = ROOT / "src" / "ferlab" / "samples" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(PHOTO).convert("RGB"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """An untrained cnn-v2.1 saved as a checkpoint folder (card name "test-model"), seeded."""
    import torch

    from ferlab.card import make_card
    from ferlab.checkpoint import save_checkpoint
    from ferlab.models import build, count_parameters

    torch.manual_seed(0)
    m = build("cnn-v2.1").eval()
    card = make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=count_parameters(m), name="test-model")
    d = tmp_path_factory.mktemp("ck") / "model"
    save_checkpoint(m, card, d)
    return d


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests must never read a cache another test (or the user) wrote.
    monkeypatch.setenv("FERLAB_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def real_data_cache(tmp_path_factory):
    """One cache for the whole session's real-data tests: the zip is decoded once, not per test
    (the cache is keyed by the source file's fingerprint, so sharing it cannot mix data)."""
    return tmp_path_factory.mktemp("real-data-cache")


def face(label: int, seed: int) -> np.ndarray:
    """A 48×48 image whose class is learnable: a bright bar at a class-dependent row, plus noise."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 80, (48, 48), dtype=np.uint8)
    row = 3 + label * 6
    img[row : row + 4, 4:44] = 220
    return img


def png_bytes(arr: np.ndarray, mode: str = "L", size: int = 48, fmt: str = "JPEG") -> bytes:
    im = Image.fromarray(arr)
    if mode != "L":
        im = im.convert(mode)
    if size != 48:
        im = im.resize((size, size))
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=95) if fmt == "JPEG" else im.save(buf, format=fmt)
    return buf.getvalue()


def make_kaggle(
    root: Path,
    per_class: dict[str, int] | None = None,
    *,
    prefixes: bool = True,
    class_dirs: dict[str, str] | None = None,
    fmt: str = "PNG",
) -> Path:
    """train/<class>/Training_*.png, test/<class>/PublicTest_* and PrivateTest_* images."""
    per_class = per_class or {"train": 12, "val": 4, "test": 4}
    class_dirs = class_dirs or {c: c for c in CLASSES}
    seed = 0
    for split, n in per_class.items():
        top = "train" if split == "train" else "test"
        prefix = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}[split] if prefixes else "img"
        for label, c in enumerate(CLASSES):
            d = root / top / class_dirs[c]
            d.mkdir(parents=True, exist_ok=True)
            for _ in range(n):
                seed += 1
                (d / f"{prefix}_{seed:08d}.{'jpg' if fmt == 'JPEG' else 'png'}").write_bytes(
                    png_bytes(face(label, seed), fmt=fmt)
                )
    return root


def zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as z:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(src).as_posix())
    return dest


def make_csv(path: Path, per_usage: dict[str, int] | None = None, rows: list[list[str]] | None = None) -> Path:
    per_usage = per_usage or {"Training": 12, "PublicTest": 4, "PrivateTest": 4}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        seed = 0
        for usage, n in per_usage.items():
            for label in range(len(CLASSES)):
                for _ in range(n):
                    seed += 1
                    w.writerow([label, " ".join(map(str, face(label, seed).ravel())), usage])
        for r in rows or []:
            w.writerow(r)
    return path


@pytest.fixture
def kaggle_dir(tmp_path) -> Path:
    return make_kaggle(tmp_path / "fer")


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    return make_csv(tmp_path / "fer2013.csv")


def run_cli(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run `ferlab ...` as a user would, in a subprocess; returns CompletedProcess."""
    e = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ferlab.cli", *map(str, args)],
        cwd=cwd or ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def train_args(data, out, *extra) -> list[str]:
    """`ferlab train` of the study's CNN V2.1 config on `data` into `out`, with more flags."""
    return [
        "train",
        "--config",
        str(ROOT / "configs" / "cnn_v2_1.yaml"),
        "--data",
        str(data),
        "--out",
        str(out),
        *extra,
    ]
