"""Recognition on real photos: the API on every input form, bad files, EXIF, video, ONNX, Grad-CAM."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import PHOTO
from PIL import Image

from ferlab.checkpoint import make_card, save_checkpoint
from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.inference.explain import grad_cam
from ferlab.inference.recognizer import Recognizer
from ferlab.labels import CLASSES


@pytest.fixture(scope="module")
def rec(ckpt) -> Recognizer:
    return Recognizer(str(ckpt))


def check_face(f, shape):
    x, y, w, h = f.box
    assert 0 <= x and 0 <= y and x + w <= shape[1] and y + h <= shape[0] and w > 40
    assert f.label in CLASSES and set(f.probs) == set(CLASSES)
    assert sum(f.probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert f.label == max(f.probs, key=f.probs.get)


def test_finds_the_face_in_a_real_photo(rec, photo):
    faces = rec.predict(PHOTO)
    assert len(faces) == 1
    check_face(faces[0], photo.shape)
    x, y, w, h = faces[0].box
    assert 120 < x + w / 2 < 400 and 100 < y + h / 2 < 350  # on her face, not the flag


@pytest.mark.parametrize("form", ["path", "pil", "rgb", "bgr", "gray", "rgba", "float", "gray1"])
def test_every_input_form_gives_the_same_answer(rec, photo, form):
    ref = rec.predict(photo)
    arg, kw = {
        "path": (str(PHOTO), {}),
        "pil": (Image.open(PHOTO), {}),
        "rgb": (photo, {}),
        "bgr": (photo[:, :, ::-1].copy(), {"bgr": True}),
        "gray": (np.asarray(Image.open(PHOTO).convert("L")), {}),
        "gray1": (np.asarray(Image.open(PHOTO).convert("L"))[:, :, None], {}),
        "rgba": (np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]), {}),
        "float": (photo.astype(np.float32) / 255.0, {}),
    }[form]
    faces = rec.predict(arg, **kw)
    assert len(faces) == 1
    if form in ("gray", "gray1"):  # same face, luminance only: boxes agree within 6% of the face's side
        # (int8 CenterFace rounds differently on CPUs with and without VNNI: 8 px on one, 10 on another)
        assert np.abs(np.subtract(faces[0].box, ref[0].box)).max() <= 0.06 * max(ref[0].box[2:])
    else:
        assert faces[0].box == ref[0].box
        assert faces[0].probs == pytest.approx(ref[0].probs, abs=1e-4)


def test_no_face_is_an_empty_list(rec):
    assert rec.predict(np.full((240, 320, 3), 127, np.uint8)) == []


def test_several_faces_and_batch(rec, photo):
    two = np.concatenate([photo, photo[:, ::-1]], axis=1)
    faces = rec.predict(two)
    assert len(faces) == 2 and faces[0].box[0] < faces[1].box[0]
    batch = rec.predict_batch([photo, two, np.zeros((100, 100, 3), np.uint8)])
    assert [len(b) for b in batch] == [1, 2, 0]
    assert batch[0][0].probs == pytest.approx(rec.predict(photo)[0].probs, abs=1e-5)


def test_classify_faces_skips_detection(rec):
    crops = [np.zeros((48, 48), np.uint8), np.full((100, 80, 3), 200, np.uint8), Image.open(PHOTO)]
    faces = rec.classify_faces(crops)
    assert len(faces) == 3 and faces[0].score == 1.0
    assert rec.classify_faces([]) == []


def test_exif_orientation_is_honoured(rec, tmp_path, photo):
    # stored sideways, with the EXIF tag that says "rotate 90° clockwise to display"
    sideways = Image.fromarray(photo).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "phone.jpg"
    sideways.save(p, exif=exif)

    def eye_line_is_level(face) -> bool:
        (lx, ly), (rx, ry) = face.landmarks[:2]
        return abs(rx - lx) > 3 * abs(ry - ly)

    # read as stored, the face lies on its side: its eyes, if found at all, are one above the other
    assert not any(eye_line_is_level(f) for f in rec.predict(np.asarray(sideways)))
    rgb, _ = rec.detect(p)
    assert rgb.shape == photo.shape and np.abs(rgb.astype(int) - photo).mean() < 3  # upright again
    faces = rec.predict(p)
    assert len(faces) == 1 and faces[0].box[2] > 100 and eye_line_is_level(faces[0])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file (0 bytes)"),
        (b"hello, I am text", "not an image file"),
        ("truncated", "truncated or corrupt image"),
        ("bomb", "decompression bomb"),
    ],
)
def test_bad_files_give_clear_errors(rec, tmp_path, content, message):
    p = tmp_path / "bad.png"
    if content == "truncated":
        p.write_bytes(PHOTO.read_bytes()[:5000])
        p = p.rename(tmp_path / "bad.jpg")
    elif content == "bomb":
        # a tiny PNG declaring 20000x20000 pixels
        Image.new("1", (20000, 20000)).save(p, optimize=True)
        assert p.stat().st_size < 200_000
    else:
        p.write_bytes(content)
    with pytest.raises(FerlabError, match=re.escape(message)) as e:
        rec.predict(p)
    assert str(p) in str(e.value)


def test_predict_cli_json_csv_annotate_and_failures(ckpt, tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "hopper.jpg").write_bytes(PHOTO.read_bytes())
    Image.new("RGB", (64, 64), "gray").save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    ann = tmp_path / "ann"
    rc = main(
        [
            "predict",
            str(folder),
            "--model",
            str(ckpt),
            "--json",
            "--csv",
            str(tmp_path / "f.csv"),
            "--annotate",
            str(ann),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 1  # one file failed, the others were still processed
    assert "broken.jpg" in err and err.count("ferlab: error:") == 1
    res = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(res) == {"blank.png", "hopper.jpg"}
    assert res["blank.png"]["faces"] == []
    f = res["hopper.jpg"]["faces"][0]
    assert set(f) == {"box", "score", "label", "confidence", "probs", "landmarks"} and len(f["box"]) == 4
    assert len(f["landmarks"]) == 5 and 0 < f["score"] <= 1  # CenterFace: five points, a probability
    assert res["hopper.jpg"]["model"] == "test-model" and res["hopper.jpg"]["tta"] == "none"
    rows = list(csv.DictReader((tmp_path / "f.csv").open()))
    assert len(rows) == 1 and rows[0]["label"] == f["label"]
    assert cv2.imread(str(ann / "sub" / "hopper_annotated.jpg")).shape == (600, 512, 3)  # the input tree mirrored
    assert main(["predict", str(tmp_path / "nothing-*.jpg"), "--model", str(ckpt)]) == 2
    assert "pattern matches no file" in capsys.readouterr().err


def test_onnx_parity(ckpt, rec, tmp_path):
    ort = Recognizer(str(ckpt), backend="onnxruntime")
    faces = np.random.default_rng(0).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    assert np.abs(ort.probabilities(faces) - rec.probabilities(faces)).max() < 1e-4
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", str(ckpt), "--onnx", str(out)]) == 0
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["ferlab_card"])["classes"] == list(CLASSES)


def test_grad_cam_shape_and_range(rec):
    faces = np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    maps, probs = grad_cam(rec.model, rec.card, faces)
    assert maps.shape == (5, 48, 48) and probs.shape == (5, 7)
    assert maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert np.allclose(maps.reshape(5, -1).max(1), 1.0, atol=1e-5)


def test_explain_cli(ckpt, tmp_path):
    out = tmp_path / "ex.png"
    assert main(["explain", str(PHOTO), "--model", str(ckpt), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def _clip(path: Path, photo: np.ndarray, frames: int = 12) -> Path:
    bgr = cv2.resize(photo[:, :, ::-1], (320, 376))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(frames):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[50:426, 40 + 4 * i : 360 + 4 * i] = bgr  # the face drifts right: one track
        w.write(frame)
    w.release()
    return path


def test_video_csv_rows_tracks_and_output(ckpt, tmp_path, photo):
    clip = _clip(tmp_path / "clip.mp4", photo)
    out, rows_csv = tmp_path / "ann.mp4", tmp_path / "frames.csv"
    assert (
        main(
            [
                "video",
                str(clip),
                "--model",
                str(ckpt),
                "--out",
                str(out),
                "--csv",
                str(rows_csv),
                "--smooth",
                "3",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(rows_csv.open()))
    assert len(rows) == 12 and [int(r["frame"]) for r in rows] == list(range(12))
    assert {r["track"] for r in rows} == {"1"}
    assert float(rows[5]["time_s"]) == pytest.approx(0.5)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    # every 3rd frame only
    assert (
        main(["video", str(clip), "--model", str(ckpt), "--csv", str(rows_csv), "--every", "3", "--no-progress"]) == 0
    )
    assert [int(r["frame"]) for r in csv.DictReader(rows_csv.open())] == [0, 3, 6, 9]


def test_video_bad_source(ckpt, tmp_path, capsys):
    assert main(["video", str(tmp_path / "missing.mp4"), "--model", str(ckpt)]) == 2
    assert "no such video file" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(1000))
    assert main(["video", str(bad), "--model", str(ckpt)]) == 2
    assert "cannot read as video" in capsys.readouterr().err


def test_tta_modes_average_their_views_on_both_backends_and_follow_the_card(ckpt, rec, tmp_path):
    from ferlab.tta import PASSES, tta_mode, views, warp

    faces = np.random.default_rng(1).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    x = torch.randn(3, 1, 48, 48)
    for mode, n in PASSES.items():
        vs = views(x, mode)
        assert len(vs) == n and torch.equal(vs[0], x)
    assert torch.equal(views(x, "flip")[1], x.flip(-1))
    assert torch.equal(views(x, "zoomflip")[1], warp(x, 0, 0, 1.1).flip(-1))  # the mirror, zoomed 1.1×
    # a 2-pixel shift moves the interior by exactly 2 pixels (the warp is not a blur)
    assert torch.allclose(warp(x, 2, 0, 1.0)[..., 4:-4, 4:-4], x[..., 4:-4, 2:-6], atol=1e-5)
    # the recognizer's "multi" is the mean of the 12 single-view predictions
    from ferlab.preprocess import to_model_input

    inp = to_model_input(torch.as_tensor(faces), 0.5, 0.25)
    with torch.inference_mode():
        manual = torch.stack([rec.model(v).softmax(1) for v in views(inp, "multi")]).mean(0).numpy()
    with torch.inference_mode():
        manual2 = torch.stack([rec.model(v).softmax(1) for v in views(inp, "zoomflip")]).mean(0).numpy()
    for backend in ("torch", "onnxruntime"):
        multi = Recognizer(str(ckpt), backend=backend, tta="multi")
        assert multi.tta == "multi"
        assert np.abs(multi.probabilities(faces) - manual).max() < 1e-4
        two = Recognizer(str(ckpt), backend=backend, tta="zoomflip")
        assert np.abs(two.probabilities(faces) - manual2).max() < 1e-4
    assert np.abs(manual - rec.probabilities(faces)).max() > 1e-4
    # a card that ships "multi" gets it without asking; an explicit mode overrides the card
    card = make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=1, metrics={"tta_default": "multi"})
    save_checkpoint(rec.model, card, tmp_path / "shipped")
    assert Recognizer(str(tmp_path / "shipped")).tta == "multi"
    assert Recognizer(str(tmp_path / "shipped"), tta="none").tta == "none"
    assert tta_mode(True) == "flip" and tta_mode(False) == tta_mode(None) == "none"
    with pytest.raises(
        FerlabError, match=re.escape("unknown test-time augmentation 'ten' (use none, flip, zoomflip, multi)")
    ):
        Recognizer(str(ckpt), tta="ten")
