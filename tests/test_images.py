"""Image decoding: 16-bit images keep their contrast, huge JPEGs are decoded reduced, decompression
bombs are refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ferlab.errors import FerlabError
from ferlab.inference.images import MAX_PIXELS, load_image, open_image, to_uint8
from ferlab.inference.recognizer import Recognizer


@pytest.fixture(scope="module")
def rec(ckpt) -> Recognizer:
    return Recognizer(str(ckpt))


def test_16bit_png_and_uint16_array_keep_their_contrast(rec, photo, tmp_path):
    gray = np.asarray(Image.fromarray(photo).convert("L")).astype(np.uint16) * 16  # a 12-bit range in 16 bits
    p = tmp_path / "hopper16.png"
    Image.fromarray(gray).save(p)
    assert Image.open(p).mode.startswith("I")
    for src in (p, gray):
        rgb = load_image(src)
        assert rgb.dtype == np.uint8 and (rgb == 255).mean() < 0.05 and rgb.std() > 30
        assert len(rec.predict(src)) == 1
    assert to_uint8(np.array([[0.0, 0.5, 1.0]])).tolist() == [[0, 128, 255]]
    assert to_uint8(np.array([[0, 100, 255]], np.int64)).tolist() == [[0, 100, 255]]  # already 8-bit values
    assert to_uint8(np.array([[-1.0, 0.0, 3.0]])).tolist() == [[0, 64, 255]]  # by its range


@pytest.mark.slow
def test_a_108_megapixel_jpeg_is_decoded_reduced_and_boxes_stay_in_its_pixels(rec, photo, tmp_path):
    big = Image.new("L", (12000, 9000), 128)
    face = Image.fromarray(photo).convert("L").resize((2048, 2400))
    big.paste(face, (6000, 3000))
    p = tmp_path / "phone.jpg"
    big.save(p, quality=80)
    del big
    rgb, scale = open_image(p)
    assert scale == 0.5 and rgb.shape == (4500, 6000, 3)
    faces = rec.predict(p)
    assert len(faces) >= 1
    x, y, w, h = max(faces, key=lambda f: f.box[2]).box
    assert 6000 <= x + w / 2 <= 8048 and 3000 <= y + h / 2 <= 5400  # in the file's own pixels


def test_a_real_bomb_names_the_limit(rec, tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (8001, 8001)).save(p, optimize=True)
    with pytest.raises(FerlabError, match=f"over the {MAX_PIXELS:,}-pixel limit") as e:
        rec.predict(p)
    assert str(p) in str(e.value)
