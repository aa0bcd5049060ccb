"""Recognizer v2 (issue 11): the shipped CNN detector with landmarks, YuNet by name, alignment,
calibrated probabilities with an `uncertain` threshold, and evaluation on any labelled folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PHOTO, ROOT, face
from PIL import Image

from ferlab.cli import main
from ferlab.detectors import build_detector
from ferlab.detectors.base import Detection
from ferlab.errors import FerlabError
from ferlab.evaluation.calibration import fit_temperature, reliability, temper
from ferlab.evaluation.scenes import FACE_PHOTOS, backgrounds, make_scene, match, read_rgb
from ferlab.inference.faces import align_face, crop_face
from ferlab.inference.recognizer import UNCERTAIN, Recognizer
from ferlab.labels import CLASSES

YUNET = ROOT.parent / "shared" / "models" / "yunet"
needs_yunet = pytest.mark.skipif(not YUNET.is_dir(), reason=f"YuNet weights not found at {YUNET}")


def _check_landmarks(d: Detection) -> None:
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = d.landmarks
    x, y, w, h = d.box
    assert lx < nx < rx and mlx < mrx  # left to right in the image
    assert max(ly, ry) < ny < min(mly, mry)  # eyes above the nose above the mouth
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in d.landmarks)


@pytest.mark.parametrize("name", ["centerface", pytest.param("yunet", marks=needs_yunet)])
def test_cnn_detectors_find_the_face_with_landmarks_where_haar_does(name, photo):
    det = build_detector(name, weights=YUNET if name == "yunet" else None)
    (d,) = det.detect(photo)
    assert 0.5 < d.score <= 1.0  # a probability now
    _check_landmarks(d)
    (h,) = build_detector("haar").detect(photo)
    # boxes line up with Haar's, so crop framing carries over: centres within 10%, sizes within 25%
    cx, cy = d.box[0] + d.box[2] / 2, d.box[1] + d.box[3] / 2
    hx, hy = h.box[0] + h.box[2] / 2, h.box[1] + h.box[3] / 2
    assert abs(cx - hx) < 0.1 * h.box[2] and abs(cy - hy) < 0.1 * h.box[2]
    assert 0.75 < max(d.box[2:]) / h.box[2] < 1.25


def test_real_photos_that_ship_in_packages_give_their_faces(photo):
    det = build_detector("centerface")
    for spec, n in FACE_PHOTOS.items():
        im = read_rgb(spec)
        if im is None:  # scikit-image not installed: its photos are optional
            continue
        assert len(det.detect(im)) == n, spec
    for bg in backgrounds()[:4]:  # photos without faces (coffee, a cat, a motorbike…)
        assert len(det.detect(bg)) <= 1


def test_detector_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(FerlabError, match="unknown detector 'mtcnn' \\(use centerface, yunet, haar\\)"):
        Recognizer(detector="mtcnn")
    with pytest.raises(FerlabError, match="YuNet weights not found"):
        build_detector("yunet", weights=tmp_path / "nothing.onnx")
    monkeypatch.setenv("FERLAB_CACHE", str(tmp_path))
    monkeypatch.delenv("FERLAB_YUNET", raising=False)
    from ferlab.detectors import yunet

    monkeypatch.setattr(yunet, "URL", "http://127.0.0.1:9/yunet.onnx")  # no server: the download fails
    with pytest.raises(FerlabError, match="pass --detector-weights PATH"):
        build_detector("yunet")


@needs_yunet
def test_yunet_by_environment_variable(photo, monkeypatch):
    monkeypatch.setenv("FERLAB_YUNET", str(YUNET))
    faces = Recognizer(detector="yunet", backend="onnxruntime").predict(photo)
    assert len(faces) == 1 and faces[0].landmarks is not None


def test_an_image_too_elongated_to_search_is_a_clear_error(ckpt, tmp_path, capsys):
    p = tmp_path / "strip.png"
    Image.new("RGB", (60000, 1), "white").save(p)
    rec = Recognizer(str(ckpt))
    with pytest.raises(FerlabError, match="60000x1 pixels, too small or too elongated"):
        rec.predict(p)
    assert main(["predict", str(p), "--model", str(ckpt)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{p}: error: image is 60000x1 pixels, too small or too elongated to search for faces " + (
        "(needs both sides ≥ 16 px and an aspect ratio ≤ 20:1)\n"
    )
    assert err == ""  # one input, one line: no "1 of 1 failed" besides it


# ----------------------------------------------------------------------------- alignment


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two faces at the scale of their features (a 1-px shift should not count)."""
    blur = lambda x: cv2.GaussianBlur(np.asarray(x, np.float32), (0, 0), 2).ravel()
    return float(np.corrcoef(blur(a), blur(b))[0, 1])


@pytest.mark.parametrize("angle", [20, -20])
def test_a_rotated_face_comes_back_upright(photo, angle):
    # The network as published: this is about the geometry of alignment on one photo, where the
    # int8 copy's landmarks move a few degrees with its rounding; the shipped int8 detector's
    # alignment is measured on hundreds of faces by benchmarks/alignment.py and the test below.
    det = build_detector("centerface", precision="fp32")
    (upright,) = det.detect(photo)
    ref = align_face(photo, upright.landmarks)
    h, w = photo.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    tilted = cv2.warpAffine(photo, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    (d,) = det.detect(tilted)

    def eye_angle(marks) -> float:
        (lx, ly), (rx, ry) = marks[:2]
        return float(np.degrees(np.arctan2(ry - ly, rx - lx)))

    assert abs(eye_angle(d.landmarks) - (eye_angle(upright.landmarks) - angle)) < 4  # it sees the tilt
    aligned, cropped = align_face(tilted, d.landmarks), crop_face(tilted, d.box)
    assert _similarity(aligned, ref) > 0.85  # upright again
    assert _similarity(aligned, ref) > _similarity(cropped, ref) + 0.15


def test_alignment_recovers_pasted_faces_better_than_crops(photo):
    # Grace Hopper's face framed as FER-2013 faces are, pasted rotated into a photo: the truth is known
    (h,) = build_detector("haar").detect(photo)
    faces = crop_face(photo, h.box)[None]
    rng = np.random.default_rng(0)
    det = build_detector("centerface")
    errs_a, errs_c = [], []
    for _ in range(8):
        frame, truth = make_scene(
            rng, faces, np.zeros(1, int), backgrounds()[:1], side=(150, 250), occlude=0, blur=0, dark=0, n_faces=(1, 1)
        )
        dets = det.detect(frame)
        for di, _ in match(dets, truth):
            ref = faces[0]
            errs_a.append(_similarity(align_face(frame, dets[di].landmarks), ref))
            errs_c.append(_similarity(crop_face(frame, dets[di].box), ref))
    assert len(errs_a) >= 6
    assert np.median(errs_a) > np.median(errs_c)


def test_no_align_keeps_the_square_crop(ckpt, photo):
    a = Recognizer(str(ckpt)).preprocess(photo).found[0]
    b = Recognizer(str(ckpt), align=False).preprocess(photo).found[0]
    assert a.detection.box == b.detection.box
    assert np.array_equal(b.crop, crop_face(photo, b.detection.box))
    assert not np.array_equal(a.crop, b.crop)


# ----------------------------------------------------------------------------- calibration


def test_temperature_is_fitted_and_calibration_error_drops_on_held_out_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (4000, 7))
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in true_p])
    over = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)  # a model 3× too sure
    t = fit_temperature(over[:2000], labels[:2000])
    assert t == pytest.approx(3.0, rel=0.15)
    before, after = reliability(over[2000:], labels[2000:]), reliability(temper(over[2000:], t), labels[2000:])
    assert after["ece"] < 0.5 * before["ece"]
    assert (temper(over, t).argmax(1) == over.argmax(1)).all()  # the predicted class never changes


def test_uncertain_below_the_confidence_threshold(ckpt, photo, capsys):
    sure = Recognizer(str(ckpt)).predict(photo)[0]
    assert sure.label in CLASSES
    doubtful = Recognizer(str(ckpt), min_confidence=sure.confidence + 0.01).predict(photo)[0]
    assert doubtful.label == UNCERTAIN and doubtful.probs == pytest.approx(sure.probs)
    assert doubtful.confidence == pytest.approx(sure.confidence)
    assert main(["predict", str(PHOTO), "--model", str(ckpt), "--min-confidence", "0.99", "--json"]) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert res["faces"][0]["label"] == UNCERTAIN


def test_the_shipped_default_is_calibrated_on_its_card():
    from ferlab.card import read_card

    card = read_card(None)
    cal = card["metrics"]["calibration"]
    assert card["inference"]["temperature"] == cal["temperature"] > 0
    assert cal["ece_after"] < cal["ece_before"]
    assert Recognizer(backend="onnxruntime").temperature == cal["temperature"]
    assert Recognizer(backend="onnxruntime", calibrated=False).temperature == 1.0


# ----------------------------------------------------------------------------- folder evaluation


def _labelled_folder(root: Path, photo: np.ndarray) -> Path:
    for name, label, n in (("Anger", 0, 3), ("happiness", 3, 2), ("surprised", 5, 2), ("contempt", None, 4)):
        d = root / name
        d.mkdir(parents=True)
        for i in range(n):
            img = face(label if label is not None else 1, 100 + i)
            if i == 0:
                Image.fromarray(cv2.resize(img, (96, 80))).convert("RGB").save(d / f"{i}.jpg")
            else:
                Image.fromarray(img).save(d / f"{i}.png")
    Image.fromarray(photo).save(root / "happiness" / "photo.jpg")
    (root / "Anger" / "notes.txt").write_text("not an image")
    return root


def test_evaluate_any_labelled_folder_with_aliases_and_skipped_classes(ckpt, tmp_path, photo, capsys):
    root = _labelled_folder(tmp_path / "raf", photo)
    fig = tmp_path / "cm.png"
    assert main(["evaluate", "--model", str(ckpt), "--data", str(root), "--json", "--plot", str(fig)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["images"] == 8 and res["n"] == 8 and res["skipped_classes"] == {"contempt": 4}
    assert res["class_folders"] == {"Anger": "angry", "happiness": "happy", "surprised": "surprise"}
    assert res["support"]["angry"] == 3 and res["support"]["happy"] == 3 and res["support"]["fear"] == 0
    present = [res["per_class"][c] for c in ("angry", "happy", "surprise")]
    assert res["balanced_accuracy"] == pytest.approx(np.mean(present))
    assert fig.read_bytes()[:4] == b"\x89PNG"
    # the whole pipeline: only the photo holds a face a detector can find
    assert main(["evaluate", "--model", str(ckpt), "--data", str(root), "--detect", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 1 and res["no_face"] == 7 and res["detector"] == "centerface"
    assert res["accuracy_all_images"] == pytest.approx(res["accuracy"] / 8)
    other = tmp_path / "other"
    (other / "contempt").mkdir(parents=True)
    Image.fromarray(face(0, 1)).save(other / "contempt" / "a.png")
    assert main(["evaluate", "--model", str(ckpt), "--data", str(other)]) == 2
    assert "no images in folders named after the classes" in capsys.readouterr().err


def test_the_framing_can_be_varied_for_measuring_it(photo):
    """benchmarks/framing.py varies the aligned square's size and the last resize's filter."""
    import cv2

    from ferlab.detectors import build_detector
    from ferlab.inference.faces import face_crop

    (d,) = build_detector("centerface").detect(photo)
    base = face_crop(photo, d)
    assert base.shape == (48, 48)
    assert not np.array_equal(face_crop(photo, d, context=1.3), base)
    assert not np.array_equal(face_crop(photo, d, interpolation=cv2.INTER_NEAREST), base)
    assert np.array_equal(face_crop(photo, d, align=False, context=1.3), face_crop(photo, d, align=False))
