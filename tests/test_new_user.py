"""What a new user meets in the first hour (issue 15): representative subsets, 16-bit images,
one face given as one array, one-line errors instead of tracebacks, huge phone photos, readable
figures, a light import, and a label that survives what happens to photos."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from conftest import PHOTO, ROOT, make_kaggle, run_cli
from PIL import Image

from ferlab.card import DEFAULT_MODEL
from ferlab.cli import build_parser, main
from ferlab.data.datamodule import FerDataModule
from ferlab.data.fer2013 import Split, load_fer2013, stratified_subset
from ferlab.errors import FerlabError
from ferlab.evaluation.stability import PERTURBATIONS, consistency
from ferlab.figures import plot_class_distribution, plot_loss_curves, plot_per_class
from ferlab.inference.images import MAX_PIXELS, load_image, open_image, to_uint8
from ferlab.inference.recognizer import Recognizer
from ferlab.labels import CLASSES, COLOURS


@pytest.fixture(scope="module")
def rec(ckpt) -> Recognizer:
    return Recognizer(str(ckpt))


# ----------------------------------------------------------------------------- 1. subsets and figures


def test_limited_subsets_hold_every_class_in_proportion():
    labels = np.repeat(np.arange(7), [467, 56, 496, 895, 653, 415, 607])  # PublicTest's counts, sorted by class
    idx = stratified_subset(labels, 70, seed=0)
    assert len(idx) == 70 and len(set(idx)) == 70
    counts = np.bincount(labels[idx], minlength=7)
    assert (counts >= 1).all()  # the first 70 would all be angry
    assert abs(counts[3] - 70 * 895 / 3589) <= 1  # happy keeps its share
    assert (stratified_subset(labels, 70, seed=0) == idx).all()
    assert not (stratified_subset(labels, 70, seed=1) == idx).all()
    assert len(stratified_subset(labels, 5, seed=0)) == 5  # fewer than the classes: still n


def test_datamodule_limits_are_stratified(tmp_path):
    data = load_fer2013(make_kaggle(tmp_path / "fer", {"train": 20, "val": 10}))
    dm = FerDataModule(data, limit_train=21, limit_val=14, seed=0)
    assert len(dm.train_split) == 21 and set(dm.train_split.class_counts().values()) == {3}
    assert set(dm.val_split.class_counts().values()) == {2}
    split = Split(torch.zeros(5, 48, 48, dtype=torch.uint8), torch.tensor([0, 0, 1, 1, 2]), list("abcde"))
    assert split.limited(None) is split and split.limited(99) is split


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the saved figure was closed: draw it again, off screen
    canvas.draw()
    return canvas.get_renderer()


def _overlaps(boxes) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_figure8_value_labels_do_not_overlap(tmp_path):
    models = {name: dict.fromkeys(CLASSES, 0.0) for name in ("CNN V1", "CNN V2.1", "ViT", "ViT scratch", "Ensemble")}
    fig = plot_per_class(models, tmp_path / "f8.png")
    renderer = _renderer(fig)
    labels = [t for t in fig.axes[0].texts if t.get_text()]
    assert len(labels) == 5 * 7
    assert not _overlaps([t.get_window_extent(renderer) for t in labels])


def test_figure4_best_accuracy_text_stays_inside_the_panel(tmp_path):
    rows = [
        {"epoch": e, "train_loss": 2 - 0.1 * e, "val_loss": 2.0 - 0.05 * e, "val_acc": 0.2 + 0.01 * e}
        for e in (1, 2, 3)
    ]
    fig = plot_loss_curves({"lr = 0.001": rows}, tmp_path / "f4.png")
    renderer = _renderer(fig)
    ax = fig.axes[0]
    text = next(t for t in ax.texts if "best val acc" in t.get_text())
    box, panel = text.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert panel.y0 <= box.y0 and box.y1 <= panel.y1


def test_figure1_legend_tells_splits_apart_without_class_colours(tmp_path):
    counts = {"train": dict.fromkeys(CLASSES, 10), "val": dict.fromkeys(CLASSES, 3)}
    fig = plot_class_distribution(counts, tmp_path / "f1.png")
    handles = fig.axes[0].get_legend().legend_handles
    assert [h.get_label() for h in handles] == ["train", "val"]
    class_rgba = {matplotlib.colors.to_hex(COLOURS[c]) for c in CLASSES}
    assert not {matplotlib.colors.to_hex(h.get_facecolor()) for h in handles} & class_rgba
    assert len({h.get_hatch() for h in handles}) == 2


# ----------------------------------------------------------------------------- 2. 16-bit images


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


# ----------------------------------------------------------------------------- 3. one face as one array


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


# ----------------------------------------------------------------------------- 4. one-line API errors


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


# ----------------------------------------------------------------------------- 5. train errors


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_kaggle(tmp_path_factory.mktemp("tiny") / "fer", {"train": 6, "val": 2})


def _train(data, out, *extra):
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


def test_train_wrong_types_and_zero_epochs_are_one_line_errors(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train(tiny, run, "--set", "train.lr=fast", "--no-progress")) == 2
    assert "train.lr must be a number, got 'fast'" in capsys.readouterr().err
    assert not run.exists()
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  lr: fast\n")
    assert main(["train", "--config", str(cfg), "--data", str(tiny), "--out", str(run)]) == 2
    assert f"{cfg}: train.lr must be a number" in capsys.readouterr().err
    cfg.write_text("train:\n  optimizer: adagrad\n")
    assert main(["train", "--config", str(cfg), "--data", str(tiny), "--out", str(run)]) == 2
    assert "unknown train.optimizer 'adagrad' (use adamw, adam, sgd)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(_train(tiny, run, "--epochs", "0"))
    assert e.value.code == 2 and "--epochs: must be at least 1, got 0" in capsys.readouterr().err
    assert not run.exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    # an architecture that does not exist fails inside training, after the run folder was made
    assert main(_train(tiny, run, "--set", "model.architecture=no-such-net", "--no-progress")) == 2
    assert "no-such-net" in capsys.readouterr().err
    assert not run.exists()


@pytest.mark.slow
def test_progress_bar_counts_epochs_from_one(tiny, tmp_path):
    r = run_cli(*_train(tiny, tmp_path / "run", "--epochs", "1", "--batch-size", "16"))
    assert r.returncode == 0, r.stderr
    bar = r.stdout + r.stderr  # Lightning's bar writes to stdout
    assert "Epoch 1/1" in bar and "Epoch 0" not in bar


# ----------------------------------------------------------------------------- 6. silent outcomes


def test_predict_on_a_folder_without_images_says_so(ckpt, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no pictures here")
    assert main(["predict", str(empty), "--model", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: no images found in this folder or below" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- 7. large photos


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


# ----------------------------------------------------------------------------- 8. what the CLI says


def test_models_lists_the_shipped_accuracy_and_mode(capsys):
    from ferlab.card import DEFAULT_MODEL, read_card

    assert main(["models", "--json"]) == 0
    bundled = {b["name"]: b for b in json.loads(capsys.readouterr().out)["bundled"]}
    from ferlab.card import shipped_tta

    card = read_card(DEFAULT_MODEL)
    m, mode = card["metrics"], shipped_tta(card)
    assert bundled[DEFAULT_MODEL]["tta"] == mode == card["inference"]["tta"]
    assert bundled[DEFAULT_MODEL]["val_accuracy"] == m["val_accuracy_default"]
    assert main(["models"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "(default)" in ln)
    assert f"{m['val_accuracy_default']:.4f} ({m.get('labels', 'original')} labels, as shipped: TTA {mode})" in line
    assert "learned" in line


def test_every_cli_option_has_help():
    missing = []
    for name, sub in build_parser()._subparsers._group_actions[0].choices.items():
        parsers = [(name, sub)]
        for a in sub._actions:  # `data summary`
            if isinstance(a, argparse._SubParsersAction):
                parsers += [(f"{name} {n}", p) for n, p in a.choices.items()]
        for pname, p in parsers:
            missing += [
                f"{pname} {a.dest}" for a in p._actions if not a.help and not isinstance(a, argparse._SubParsersAction)
            ]
    assert missing == []


@pytest.mark.slow
def test_a_bad_video_or_missing_webcam_prints_only_ferlab_s_line(ckpt, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    for source, message in ((str(bad), "cannot read as video"), ("7", "webcam 7: cannot open")):
        r = run_cli("video", source, "--model", str(ckpt))
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and message in r.stderr, r.stderr


# ----------------------------------------------------------------------------- 9. stability


def test_consistency_measures_label_flips():
    faces = np.random.default_rng(0).integers(0, 256, (20, 48, 48), dtype=np.uint8)

    def left_brighter(x):  # a "model" whose label is which half of the face is brighter: mirroring flips it
        d = x[:, :, :24].mean((1, 2)) > x[:, :, 24:].mean((1, 2))
        return np.stack([d, ~d], 1).astype(np.float32)

    res = consistency(left_brighter, faces)
    assert res["mirror"] == 0.0 and res["all"] == 0.0 and res["n"] == 20
    const = consistency(lambda x: np.tile([0.2, 0.8], (len(x), 1)), faces)
    assert all(const[k] == 1.0 for k in [*PERTURBATIONS, "all"])


def test_bundled_default_card_reports_its_stability():
    from ferlab.card import DEFAULT_MODEL, read_card, shipped_tta

    card = read_card(DEFAULT_MODEL)
    s = card["metrics"]["stability"]
    assert s["tta"] == shipped_tta(card) and s["n"] == 3589
    assert 0.5 < s["all"] <= min(s[k] for k in PERTURBATIONS) <= 1.0


# ----------------------------------------------------------------------------- 10. cold start


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


def test_predict_refuses_unusable_outputs_before_work(tmp_path, capsys):
    assert main(["predict", str(PHOTO), "--csv", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--csv needs a file name, and this is a folder" in err
    f = tmp_path / "taken.txt"
    f.write_text("x")
    assert main(["predict", str(PHOTO), "--annotate", str(f)]) == 2
    assert "--annotate needs a folder, and this is an existing file" in capsys.readouterr().err
    assert main(["predict", str(PHOTO), "--csv", str(tmp_path / "nowhere" / "f.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_annotate_mirrors_the_input_tree_and_keeps_png(tmp_path):
    src = tmp_path / "in"
    for sub in ("a", "b"):
        (src / sub).mkdir(parents=True)
        Image.open(PHOTO).save(src / sub / "img.png")
    out = tmp_path / "out"
    assert main(["predict", str(src), "--annotate", str(out)]) == 0
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["a/img_annotated.png", "b/img_annotated.png"]
    assert Image.open(out / "a" / "img_annotated.png").format == "PNG"


# ----------------------------------------------------------------------------- round two


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


def test_evaluating_whole_photos_without_detect_warns(tmp_path, capsys):
    for c in ("happy", "sad"):
        (tmp_path / "photos" / c).mkdir(parents=True)
        (tmp_path / "photos" / c / "a.jpg").write_bytes(PHOTO.read_bytes())
    assert main(["evaluate", "--data", str(tmp_path / "photos")]) == 0
    err = capsys.readouterr().err
    assert "ferlab: warning:" in err and "whole photos, not face crops?" in err and "--detect" in err


def test_a_missing_yunet_file_is_reported_once_before_any_image(tmp_path, capsys):
    for i in range(3):
        (tmp_path / f"p{i}.jpg").write_bytes(PHOTO.read_bytes())
    rc = main(["predict", str(tmp_path), "--detector", "yunet", "--detector-weights", str(tmp_path / "none.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("ferlab: error:") == 1 and "none.onnx" in err


def test_bundle_writes_to_the_users_models_folder_and_names_find_it(ckpt, tmp_path, monkeypatch, capsys):
    """`ferlab bundle` no longer writes into the installed package: into $FERLAB_MODELS (default
    ~/.local/share/ferlab/models), where a bare name finds it."""
    import shutil

    from ferlab.card import resolve

    monkeypatch.setenv("FERLAB_MODELS", str(tmp_path / "models"))
    seen = {}

    def fake_bundle(source, name, *, out_dir, **kw):
        seen["out_dir"] = out_dir
        shutil.copy(Path(ckpt) / "model.safetensors", out_dir / f"{name}.safetensors")
        return out_dir / f"{name}.safetensors"

    monkeypatch.setattr("ferlab.weights_bundle.bundle", fake_bundle)
    assert main(["bundle", str(ckpt), "--name", "my-model"]) == 0
    out = capsys.readouterr().out
    assert seen["out_dir"] == tmp_path / "models" and "--model my-model" in out
    assert resolve("my-model") == tmp_path / "models" / "my-model.safetensors"
    assert main(["models", "--json"]) == 0
    mine = {b["name"]: b for b in json.loads(capsys.readouterr().out)["bundled"]}["my-model"]
    assert mine["yours"] is True


def test_info_is_a_readable_card_and_compare_runs_models_as_shipped(capsys):
    """`ferlab info` used to dump Python dicts with three accuracies side by side; `ferlab compare`
    evaluated the default with TTA none while `evaluate` ran it as shipped."""
    from ferlab.card import read_card

    assert main(["info", "--model", "fer-vgg-wide"]) == 0
    out = capsys.readouterr().out
    shipped = read_card("fer-vgg-wide")["metrics"]["val_accuracy_default"]
    assert f"accuracy as shipped: {shipped:.4f}" in out and "labels learned: FER-2013's own" in out
    assert "{" not in out and "_path" not in out and ".devdata" not in out
    assert "the checkpoint kept is epoch 68" in out and "82 epochs" in out
    assert main(["info", "--model", "fer-vgg-wide-ferplus"]) == 0
    out = capsys.readouterr().out
    assert "labels learned: FER+ vote distributions" in out
    # the card says both PublicTest numbers and FER+ Valid, and what the model is and is not for
    head = read_card("fer-vgg-wide-ferplus")["metrics"]["headline"]
    dedup, valid = head["publictest"]["accuracy_without_train_duplicates"], head["ferplus_valid"]["accuracy"]
    assert f"without the images that repeat a training image: {dedup:.4f}" in out
    assert f"FER+ Valid (FERPlus layout), ferplus-majority labels, as shipped: {valid:.4f}" in out
    assert "not for decisions about people" in out and "EU AI Act" in out and "confidence: the calibrated" in out
    assert build_parser().parse_args(["compare", "x.json", "--out", "o"]).tta == "card"
