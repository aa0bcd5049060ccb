"""Recognition on real photos: the API on every input form, bad files, EXIF, video, ONNX, Grad-CAM."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import PHOTO
from PIL import Image

from ferlab.card import DEFAULT_MODEL, make_card
from ferlab.checkpoint import save_checkpoint
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
    rgb = rec.preprocess(p).rgb
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
    assert err == "ferlab: 1 of 3 file(s) failed\n"
    res = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(res) == {"blank.png", "hopper.jpg", "broken.jpg"}  # every input, the failed one too
    assert res["broken.jpg"]["status"] == "error" and "broken.jpg: not an image file" in res["broken.jpg"]["error"]
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


def test_explain_shows_the_probability_predict_gives(tmp_path, capsys):
    """explain printed the uncalibrated one-pass probability (neutral 0.73) where predict said 0.87."""
    assert main(["predict", str(PHOTO)]) == 0
    said = capsys.readouterr().out.splitlines()[1].split()[1:3]  # ['neutral', '0.87']
    assert main(["explain", str(PHOTO), "--out", str(tmp_path / "ex.png")]) == 0
    out = capsys.readouterr().out
    assert f"#1 {said[0]} {said[1]}; calibrated, TTA zoomflip" in out


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
    card = make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=1, inference={"tta": "multi"})
    save_checkpoint(rec.model, card, tmp_path / "shipped")
    assert Recognizer(str(tmp_path / "shipped")).tta == "multi"
    assert Recognizer(str(tmp_path / "shipped"), tta="none").tta == "none"
    assert tta_mode(None) == "none" and tta_mode("zoomflip") == "zoomflip"
    with pytest.raises(FerlabError, match="unknown test-time augmentation True"):
        tta_mode(True)  # modes are named: a boolean says nothing about which views
    with pytest.raises(
        FerlabError, match=re.escape("unknown test-time augmentation 'ten' (use none, flip, zoomflip, multi)")
    ):
        Recognizer(str(ckpt), tta="ten")


def test_the_stages_chained_by_hand_give_what_run_gives(rec, tmp_path, photo):
    """preprocess → probabilities → postprocess is `run`: the server and video put their own work
    between the stages and must get the same faces, in the source's pixels."""
    big = tmp_path / "big.jpg"
    side = (photo.shape[1] * 6, photo.shape[0] * 6)  # large enough to be decoded reduced
    Image.fromarray(photo).resize(side).save(big)
    staged = rec.preprocess(big)
    assert staged.scale < 1 and staged.crops.shape == (len(staged.found), 48, 48) and staged.crops.dtype == np.uint8
    by_hand = rec.postprocess(staged, rec.probabilities(staged.crops))
    whole = rec.run(big)
    assert by_hand.status == whole.status == "ok" and by_hand.size == whole.size == side
    assert [f.box for f in by_hand.faces] == [f.box for f in whole.faces]
    assert [f.probs for f in by_hand.faces] == [f.probs for f in whole.faces]
    (face,) = whole.faces
    assert face.box[2] > 6 * 100  # boxes are in the source's pixels, not the reduced decode's


def test_preprocess_raises_and_run_reports_a_bad_image(rec, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(FerlabError, match=r"bad\.jpg"):
        rec.preprocess(bad)
    (r,) = rec.run_batch([bad])
    assert r.status == "error" and "bad.jpg" in r.error and r.faces == []


def test_settings_describe_every_output_alike(rec):
    s = rec.settings()
    assert {k: s[k] for k in ("model", "tta", "backend", "precision", "detector")} == {
        "model": rec.name,
        "tta": rec.tta,
        "backend": rec.backend,
        "precision": rec.precision,
        "detector": "centerface",
    }
    from ferlab.inference.outputs import RunInfo

    info = RunInfo.of(rec)
    assert (info.model, info.tta, info.detector) == (s["model"], s["tta"], s["detector"])


def run_cli_python(code: str, env: dict) -> list[str]:
    import os

    r = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()


def test_classify_faces_takes_one_face_as_one_face(rec, photo):
    crop = photo[102:331, 149:378]  # 229×229, as in the report
    for one in (crop, crop[:, :, 0], Image.fromarray(crop), str(PHOTO)):
        faces = rec.classify_faces(one)
        assert len(faces) == 1
    assert rec.classify_faces(crop)[0].box == (0, 0, 229, 229)  # the crop's own size, not 48×48
    assert rec.classify_faces([crop[:100, :80]])[0].box == (0, 0, 80, 100)
    stack = np.zeros((5, 48, 48), np.uint8)
    assert len(rec.classify_faces(stack)) == 5  # documented: N×H×W uint8 is N faces
    with pytest.raises(FerlabError, match="classify_faces: cannot read faces from dict"):
        rec.classify_faces({"a": crop})
    with pytest.raises(FerlabError, match="neither one face"):
        rec.classify_faces(np.zeros((5, 48, 48), np.float32))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: r.predict(42), "cannot read an image from int"),
        (lambda r: r.predict(None), "cannot read an image from NoneType"),
        (lambda r: r.classify_faces([42]), "cannot read an image from int"),
        (lambda r: r.predict(np.zeros((0, 0, 3), np.uint8)), "image array is empty"),
        (lambda r: r.classify_faces([np.zeros((0, 5), np.uint8)]), "image array is empty"),
        (lambda r: r.predict(np.zeros((4, 4, 4, 4), np.uint8)), "image array has shape"),
    ],
)
def test_api_misuse_is_a_one_line_ferlab_error(rec, call, message):
    with pytest.raises(FerlabError, match=message) as e:
        call(rec)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_importing_ferlab_and_building_a_recognizer_loads_no_training_stack(ckpt, tmp_path):
    code = (
        "import sys, ferlab\n"
        "from ferlab import Recognizer\n"
        f"Recognizer({str(ckpt)!r}, backend='onnxruntime').predict({str(PHOTO)!r})\n"
        "print(sorted(m for m in ('torch', 'torchmetrics', 'lightning', 'transformers') if m in sys.modules))\n"
        f"Recognizer({str(ckpt)!r}).predict({str(PHOTO)!r})\n"
        "print(sorted(m for m in ('torch', 'torchmetrics', 'lightning', 'transformers') if m in sys.modules))\n"
    )
    env = {"FERLAB_CACHE": str(tmp_path / "cache")}
    first = run_cli_python(code, env)  # the first onnxruntime use exports the model: torch once
    second = run_cli_python(code, env)  # afterwards onnxruntime runs without torch
    assert first[1] == second[1] == "['torch']"
    assert second[0] == "[]"


def test_an_exported_onnx_file_works_as_the_model(tmp_path, capsys):
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", "--onnx", str(onnx_file)]) == 0
    capsys.readouterr()
    assert main(["predict", str(PHOTO), "--model", str(onnx_file), "--json"]) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert len(res["faces"]) == 1 and res["model"] == DEFAULT_MODEL
    assert main(["predict", str(PHOTO), "--model", str(onnx_file), "--backend", "torch"]) == 2
    assert "runs with --backend onnxruntime only" in capsys.readouterr().err
    bad = tmp_path / "other.onnx"
    bad.write_bytes(b"not onnx at all")
    assert main(["predict", str(PHOTO), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a readable ONNX model" in err and err.count("\n") == 1


def test_classify_faces_takes_bgr_and_calls_an_empty_crop_uncertain():
    import cv2

    from ferlab.inference.recognizer import Recognizer

    rec = Recognizer()
    face = np.asarray(Image.open(PHOTO).convert("RGB"))[130:340, 175:360]
    rgb = rec.classify_faces(face)[0]
    bgr = rec.classify_faces(np.ascontiguousarray(face[:, :, ::-1]), bgr=True)[0]
    assert bgr.probs == pytest.approx(rgb.probs, abs=1e-5)
    im = cv2.imread(str(PHOTO))[130:340, 175:360]  # OpenCV's BGR: the same answer with bgr=True
    assert rec.classify_faces(im, bgr=True)[0].probs == pytest.approx(rgb.probs, abs=1e-5)
    black = rec.classify_faces(np.zeros((48, 48), np.uint8))[0]
    assert black.label == "uncertain" and black.confidence == pytest.approx(1 / 7)


def test_classify_faces_can_reframe_a_loose_crop_as_predict_frames_faces(rec, photo):
    loose = photo[40:560, 60:480]  # the face with much of the portrait around it
    (as_is,) = rec.classify_faces(loose)
    (framed,) = rec.classify_faces(loose, reframe=True)
    (predicted,) = rec.predict(photo)
    assert framed.probs == pytest.approx(predicted.probs, abs=1e-3) and as_is.probs != framed.probs
    (blank,) = rec.classify_faces(np.full((64, 64, 3), 128, np.uint8), reframe=True)  # no face: taken whole
    assert blank.label == "uncertain"
