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


# Image files ferlab reads, by suffix (folders given to `predict` and FER-2013 layouts alike).
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
