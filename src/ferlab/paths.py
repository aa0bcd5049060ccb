"""Where ferlab writes what it derives (decoded data, ONNX exports, feature caches): the user
cache dir, never the source tree or ../shared (read-only in CI). Imports nothing heavy."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$FERLAB_CACHE`, else `$XDG_CACHE_HOME/ferlab`, else `~/.cache/ferlab`."""
    base = os.environ.get("FERLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ferlab"
    )
    return Path(base)


def user_models_dir() -> Path:
    """Where `ferlab bundle` stores models by default, found by name like the bundled ones:
    `$FERLAB_MODELS`, else `$XDG_DATA_HOME/ferlab/models`, else `~/.local/share/ferlab/models`
    (never the installed package, which may be read-only and is replaced by the next install)."""
    base = os.environ.get("FERLAB_MODELS") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "ferlab", "models"
    )
    return Path(base)


# Image files ferlab reads, by suffix (folders given to `predict` and FER-2013 layouts alike).
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (recursive, images only) and globs → file list, in a stable order.
    A folder or pattern that yields no image is an error naming it, never a silent empty run."""
    import glob

    from ferlab.errors import FerlabError

    out: list[Path] = []
    for item in items:
        if any(ch in item for ch in "*?[") and not Path(item).exists():
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FerlabError(f"{item}: pattern matches no file")
            out += [Path(m) for m in matches if Path(m).is_file()]
        elif Path(item).is_dir():
            found = sorted(p for p in Path(item).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
            if not found:
                raise FerlabError(
                    f"{item}: no images found in this folder or below (looked for {', '.join(sorted(IMAGE_EXTS))})"
                )
            out += found
        else:
            out.append(Path(item))
    return out
