"""Loading user images safely: paths, PIL images or arrays of any mode/dtype → RGB uint8.

EXIF orientation is applied (phones store portraits sideways), 16-bit and float data are brought
to 8 bits by their range, very large JPEGs are reduced while decoding (a 108-megapixel phone photo
decodes at half size, never at full size), decompression bombs are refused with the limit named,
and every failure is one FerlabError naming the file and the problem.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ferlab.detectors.base import check_search_size
from ferlab.errors import FerlabError

# Decoded images are never larger than this; JPEGs above it are reduced while decoding (draft
# mode: 1/2, 1/4 or 1/8 scale, almost free), other formats above it are refused.
MAX_PIXELS = 64_000_000
# JPEGs over this many pixels are drafted down towards it: faces need far less, and detection
# searches at ≤ 1280 px anyway.
WORK_PIXELS = 16_000_000

ImageSource = str | os.PathLike | Image.Image | np.ndarray


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Any numeric image array → uint8 with the same shape, in one place for files and arrays.

    uint8 is kept; bool → 0/255; floats in [0, 1] are scaled by 255; integers and floats already
    within [0, 255] are taken as 8-bit values; 16-bit data, and anything else outside 0–255
    (32-bit integers, floats in other units), is scaled by its own range (min → 0, max → 255),
    so a 16-bit PNG that uses 12 bits looks as it does in a viewer instead of clipping to white.
    """
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise FerlabError(f"image array has unsupported dtype {a.dtype} (use uint8, uint16, int or float)")
    f = a.astype(np.float32)
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(finite.min()), float(finite.max())
    wide_int = np.issubdtype(a.dtype, np.integer) and a.dtype.itemsize == 2
    if np.issubdtype(a.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        f = f * 255.0
    elif wide_int or lo < 0.0 or hi > 255.0:
        f = (f - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(f)
    return np.clip(np.rint(np.nan_to_num(f, nan=0.0)), 0, 255).astype(np.uint8)


def _from_pil(im: Image.Image, where: str) -> np.ndarray:
    try:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "F") or im.mode.startswith("I;16"):
            # 16/32-bit integer and float images: Pillow's convert("L") clips them; scale instead.
            return array_to_rgb(np.asarray(im))
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


def open_image(
    src: ImageSource, *, bgr: bool = False, min_side: int | None = None, searchable: bool = False
) -> tuple[np.ndarray, float]:
    """Anything image-like → (H×W×3 uint8 RGB, scale): scale < 1 when a large JPEG was decoded
    reduced (pixel coordinates in the original = coordinates in the array / scale).

    min_side: a JPEG file whose longer side is at least twice this is decoded at 1/2, 1/4 or 1/8
    scale while keeping its longer side ≥ min_side (draft mode: a fraction of the decoding time);
    the recognizer asks for twice the detector's search size, so faces keep their detail.
    searchable: refuse, before decoding, a file too small or too elongated to search for faces."""
    if isinstance(src, Image.Image):
        return _from_pil(src, "image"), 1.0
    if isinstance(src, np.ndarray):
        return array_to_rgb(src, bgr=bgr), 1.0
    if not isinstance(src, str | os.PathLike):
        raise FerlabError(
            f"cannot read an image from {type(src).__name__}: give a file path, a PIL image or a numpy array"
        )
    p = Path(src)
    try:
        if p.is_symlink() and not p.exists():
            raise FerlabError(f"{p}: {link_problem(p)}")
        if not p.exists():
            raise FerlabError(f"{p}: no such file")
        if p.is_dir():
            raise FerlabError(f"{p}: is a folder, not an image")
        if p.stat().st_size == 0:
            raise FerlabError(f"{p}: empty file (0 bytes)")
        fh = open(p, "rb")
    except OSError as e:  # permission denied, a name too long, a link loop: the file cannot be opened
        raise FerlabError(f"{p}: cannot read it ({e.strerror or e})") from None
    with fh:
        return _decode(fh, str(p), min_side, searchable=searchable)


def link_problem(p: Path) -> str:
    """What is wrong with a symbolic link that leads to no file: a loop, or a missing target."""
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a link loop (the link leads back to itself)"
    return f"a broken link (its target {os.readlink(p)} does not exist)"


def load_image(src: ImageSource, *, bgr: bool = False) -> np.ndarray:
    """Anything image-like → H×W×3 uint8 RGB.

    Arrays may be H×W (gray), H×W×3 (RGB, or BGR with bgr=True as OpenCV gives) or H×W×4
    (RGBA); uint8, 16-bit, other integers or float (see `to_uint8`). Very large JPEGs come back
    reduced (see `open_image` for the scale).
    """
    return open_image(src, bgr=bgr)[0]


# What uploads may be: an allow-list, so no other Pillow decoder (EPS runs Ghostscript, for one)
# is ever reached whatever type the client declares. (format, signatures at offset 0)
UPLOAD_FORMATS = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "WEBP": (b"RIFF",),  # and "WEBP" at offset 8
}


class UnsupportedFormat(FerlabError):
    """The bytes are not one of the accepted image formats (the server answers 415)."""


def upload_format(data: bytes) -> str | None:
    """The accepted format the bytes start like, or None."""
    for fmt, sigs in UPLOAD_FORMATS.items():
        if data.startswith(sigs) and (fmt != "WEBP" or data[8:12] == b"WEBP"):
            return fmt
    return None


def open_image_bytes(
    data: bytes,
    where: str = "upload",
    *,
    allow_list: bool = False,
    min_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
    searchable: bool = False,
) -> tuple[np.ndarray, float]:
    """Image file bytes → (H×W×3 uint8 RGB, scale), reduced while decoding as `open_image` does
    (min_side, searchable), refused above `max_pixels` where the format cannot be reduced while
    decoding."""
    if not data:
        raise FerlabError(f"{where}: empty file (0 bytes)")
    formats = None
    if allow_list:
        if upload_format(data) is None:
            raise UnsupportedFormat(f"{where}: not one of the accepted image formats ({', '.join(UPLOAD_FORMATS)})")
        formats = tuple(UPLOAD_FORMATS)
    return _decode(io.BytesIO(data), where, min_side, formats=formats, max_pixels=max_pixels, searchable=searchable)


def _bomb(where: str, w: int, h: int, limit: int) -> FerlabError:
    return FerlabError(
        f"{where}: image is {w}x{h} = {w * h:,} pixels, over the {limit:,}-pixel limit "
        "(refused as a possible decompression bomb; only JPEGs are reduced while decoding)"
    )


def _reduced(im: Image.Image, f: float) -> Image.Image:
    """A decoded image brought down by the whole factor ⌊1/f⌋ before any mode conversion, so a
    large palette or gray image never exists as full-size RGB(A) copies (an 8000×8000 palette PNG
    is 64 MB decoded, over 1 GB through the conversions)."""
    k = int(1 / f)
    if k < 2:
        return im
    if im.mode in ("P", "1") or im.mode.startswith("I;16"):  # modes Image.reduce does not take
        out = im.resize((max(1, im.width // k), max(1, im.height // k)), Image.Resampling.NEAREST)
    else:
        out = im.reduce(k)
    out.info = dict(im.info)  # keeps the EXIF orientation (PNG, WEBP) for exif_transpose
    return out


def _decode(
    fp,
    where: str,
    min_side: int | None = None,
    formats: tuple[str, ...] | None = None,
    max_pixels: int = MAX_PIXELS,
    searchable: bool = False,
) -> tuple[np.ndarray, float]:
    try:
        with warnings.catch_warnings():
            # Pillow warns from ~89 MP: our own limits below decide instead (a 108 MP JPEG is drafted
            # down); Pillow still refuses over twice that at open, with its limit in the message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp, formats=formats) as im:
                w, h = im.size
                if w == 0 or h == 0:
                    raise FerlabError(f"{where}: image is {w}x{h} pixels (empty)")
                if searchable:
                    check_search_size(w, h, where)
                scale = 1.0
                f = min((WORK_PIXELS / (w * h)) ** 0.5, 1.0)
                if min_side:
                    f = min(f, min_side / max(w, h))
                if im.format == "JPEG" and f <= 0.5:
                    # draft picks the smallest 1/2ⁿ scale that still covers the requested size
                    im.draft(im.mode if im.mode in ("L", "RGB") else "RGB", (max(1, int(w * f)), max(1, int(h * f))))
                    scale = im.size[0] / w
                elif w * h > max_pixels:
                    raise _bomb(where, w, h, max_pixels)
                im.load()
                if im.format != "JPEG" and f <= 0.5:
                    small = _reduced(im, f)
                    return _from_pil(small, where), small.size[0] / w
                return _from_pil(im, where), scale
    except Image.DecompressionBombError as e:
        raise FerlabError(f"{where}: refused as a possible decompression bomb ({e})") from None
    except FerlabError:
        raise
    except Image.UnidentifiedImageError:
        raise FerlabError(f"{where}: not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise FerlabError(f"{where}: truncated or corrupt image ({e})") from None


def array_to_rgb(a: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise FerlabError(f"expected a numpy image array, got {type(a).__name__}")
    if a.size == 0:
        raise FerlabError(f"image array is empty (shape {a.shape})")
    a = to_uint8(a)
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
