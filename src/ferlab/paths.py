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


# The FER-2013 copy commands, scripts and configs read when given none: the developers' shared copy
# beside the checkout (CI has it); users set $FERLAB_DATA or pass --data.
SHARED_DATA = "../shared/data/fer2013-no-private.zip"


def default_data() -> str:
    """`$FERLAB_DATA` as it is now (not as it was at import), else the shared copy."""
    return os.environ.get("FERLAB_DATA") or SHARED_DATA


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
