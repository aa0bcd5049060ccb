"""Loading user images safely: paths, PIL images or arrays of any mode/dtype → RGB uint8.

EXIF orientation is applied (phones store portraits sideways), decompression bombs are refused,
and every failure is one FerlabError naming the file and the problem.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ferlab.errors import FerlabError

# PIL's default limit is ~89 MP with a warning and 2x that as an error; we refuse at the warning.
MAX_PIXELS = 64_000_000


def _from_pil(im: Image.Image, where: str) -> np.ndarray:
    try:
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "L"):
            # Transparent pixels go to white, not black: how the image looks in a viewer.
            if "A" in im.getbands() or im.mode == "P":
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba).convert("RGB")
            else:
                im = im.convert("RGB")
        if im.mode == "L":
            im = im.convert("RGB")
        return np.asarray(im, dtype=np.uint8).copy()
    except OSError as e:
        raise FerlabError(f"{where}: cannot decode image ({e})") from None


def load_image(src: str | os.PathLike | Image.Image | np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Anything image-like → H×W×3 uint8 RGB.

    Arrays may be H×W (gray), H×W×3 (RGB, or BGR with bgr=True as OpenCV gives) or H×W×4
    (RGBA), uint8 or float in [0, 1].
    """
    if isinstance(src, Image.Image):
        return _from_pil(src, "image")
    if isinstance(src, np.ndarray):
        return array_to_rgb(src, bgr=bgr)
    p = Path(src)
    if not p.exists():
        raise FerlabError(f"{p}: no such file")
    if p.is_dir():
        raise FerlabError(f"{p}: is a folder, not an image")
    if p.stat().st_size == 0:
        raise FerlabError(f"{p}: empty file (0 bytes)")
    with open(p, "rb") as fh:
        return _decode(fh, str(p))


def load_image_bytes(data: bytes, where: str = "upload") -> np.ndarray:
    """Image file bytes (an upload) → H×W×3 uint8 RGB, with the same checks as files."""
    if not data:
        raise FerlabError(f"{where}: empty file (0 bytes)")
    return _decode(io.BytesIO(data), where)


def _decode(fp, where: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise FerlabError(
                        f"{where}: image is {w}x{h} pixels, over the {MAX_PIXELS:,}-pixel limit "
                        "(a possible decompression bomb)"
                    )
                im.load()
                return _from_pil(im, where)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FerlabError(f"{where}: refused as a possible decompression bomb") from None
    except FerlabError:
        raise
    except Image.UnidentifiedImageError:
        raise FerlabError(f"{where}: not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise FerlabError(f"{where}: truncated or corrupt image ({e})") from None


def array_to_rgb(a: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
            raise FerlabError(f"image array has unsupported dtype {a.dtype}")
        f = a.astype(np.float32)
        if np.issubdtype(a.dtype, np.floating) and f.size and f.max() <= 1.0:
            f = f * 255.0
        a = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        if a.shape[2] == 4:
            alpha = a[:, :, 3:4].astype(np.float32) / 255.0
            a = (a[:, :, :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
        return np.ascontiguousarray(a[:, :, ::-1] if bgr else a)
    raise FerlabError(f"image array has shape {a.shape}; expected H×W, H×W×1, H×W×3 or H×W×4")
