"""Readers, the ICML protocol, messy folders and every bad input's one-line message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import face, make_csv, make_kaggle, png_bytes, zip_dir

from ferlab.cli import main
from ferlab.data import load_fer2013
from ferlab.data.datamodule import FerDataModule
from ferlab.data.fer2013 import Split, stratified_subset
from ferlab.labels import CLASSES


def test_kaggle_folder_protocol_and_form(kaggle_dir):
    d = load_fer2013(kaggle_dir)
    assert set(d.splits) == {"train", "val", "test"}
    tr = d.splits["train"]
    assert tr.images.dtype == torch.uint8 and tr.images.shape == (12 * 7, 48, 48)
    assert tr.labels.dtype == torch.int64
    assert all(n.split("/")[-1].startswith("Training_") for n in tr.names)
    assert all(n.split("/")[-1].startswith("PublicTest_") for n in d.splits["val"].names)
    assert all(n.split("/")[-1].startswith("PrivateTest_") for n in d.splits["test"].names)
    assert d.splits["val"].class_counts() == dict.fromkeys(CLASSES, 4)
    # the label of each image is the folder it sat in
    i = tr.names.index(next(n for n in tr.names if "/fear/" in n))
    assert CLASSES[int(tr.labels[i])] == "fear"
    # pixels survive (PNG is lossless)
    seed = int(tr.names[i].split("_")[-1].split(".")[0])
    assert np.array_equal(tr.images[i].numpy(), face(CLASSES.index("fear"), seed))


def test_zip_equals_folder(kaggle_dir, tmp_path):
    a = load_fer2013(kaggle_dir)
    b = load_fer2013(zip_dir(kaggle_dir, tmp_path / "fer.zip"))
    for s in ("train", "val", "test"):
        assert torch.equal(a.splits[s].images, b.splits[s].images)
        assert torch.equal(a.splits[s].labels, b.splits[s].labels)
        assert a.splits[s].names == b.splits[s].names


def test_csv_gives_same_form(fer_csv):
    d = load_fer2013(fer_csv)
    assert {s: len(d.splits[s]) for s in d.splits} == {"train": 84, "val": 28, "test": 28}
    assert d.splits["train"].images.dtype == torch.uint8
    assert d.splits["train"].images.shape[1:] == (48, 48)
    assert d.splits["val"].class_counts() == dict.fromkeys(CLASSES, 4)
    assert np.array_equal(d.splits["train"].images[0].numpy(), face(0, 1))
    assert d.splits["train"].names[0] == "row2"


def test_cache_roundtrip_is_identical(kaggle_dir):
    a = load_fer2013(kaggle_dir)
    b = load_fer2013(kaggle_dir)  # second read comes from the cache
    assert torch.equal(a.splits["train"].images, b.splits["train"].images)
    assert a.byte_hashes == b.byte_hashes


def test_cache_invalidated_when_files_change(kaggle_dir):
    a = load_fer2013(kaggle_dir)
    f = next((kaggle_dir / "train" / "happy").iterdir())
    f.unlink()
    b = load_fer2013(kaggle_dir)
    assert len(b.splits["train"]) == len(a.splits["train"]) - 1


def test_aliases_case_insensitive(tmp_path):
    dirs = {
        "angry": "Anger",
        "disgust": "DISGUST",
        "fear": "fearful",
        "happy": "Happiness",
        "sad": "sadness",
        "surprise": "Surprised",
        "neutral": "Neutrality",
    }
    d = load_fer2013(make_kaggle(tmp_path / "f", class_dirs=dirs))
    assert d.splits["train"].class_counts() == dict.fromkeys(CLASSES, 12)


def test_rgb_and_resized_images_converted_and_counted(kaggle_dir):
    (kaggle_dir / "train" / "happy" / "Training_rgb.png").write_bytes(png_bytes(face(3, 99), mode="RGB", size=96))
    d = load_fer2013(kaggle_dir)
    assert d.stats.converted_mode == 1 and d.stats.resized == 1
    assert d.stats.modes["RGB"] == 1 and d.stats.sizes["96x96"] == 1
    assert d.splits["train"].images.shape[1:] == (48, 48)


def test_unreadable_skipped_and_listed_or_strict_error(kaggle_dir, capsys):
    bad = kaggle_dir / "train" / "sad" / "Training_broken.jpg"
    bad.write_bytes(b"not an image at all")
    (kaggle_dir / "train" / "sad" / "Training_empty.jpg").write_bytes(b"")
    d = load_fer2013(kaggle_dir)
    skipped = dict(d.stats.skipped)
    assert "not a readable image" in skipped["train/sad/Training_broken.jpg"]
    assert "empty file" in skipped["train/sad/Training_empty.jpg"]
    assert len(d.splits["train"]) == 84
    rc = main(["data", "summary", str(kaggle_dir), "--strict"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and "Training_broken.jpg" in err and "not a readable image" in err


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda r: __import__("shutil").rmtree(r / "train" / "disgust"), "disgust have no training images"),
        (lambda r: __import__("shutil").rmtree(r / "train"), "no train/<class>/ images found"),
        (
            lambda r: (
                (r / "train" / "bored").mkdir()
                or (r / "train" / "bored" / "Training_1.png").write_bytes(png_bytes(face(0, 1), fmt="PNG"))
            ),
            "unknown class folder(s) train/bored",
        ),
    ],
)
def test_bad_folders_one_line_exit_2(kaggle_dir, capsys, setup, message):
    setup(kaggle_dir)
    rc = main(["data", "summary", str(kaggle_dir)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("ferlab: error: ") and err.count("\n") == 1
    assert message in err and str(kaggle_dir) in err


@pytest.mark.parametrize(
    "header, row, message",
    [
        (["label", "image", "Usage"], None, "wrong columns"),
        (None, ["3", "1 2 3", "Training"], "row 86: pixels has 3 values, expected 2304"),
        (None, ["9", " ".join(["0"] * 2304), "Training"], "row 86: emotion 9 out of range 0..6"),
        (None, ["x", " ".join(["0"] * 2304), "Training"], "row 86: emotion 'x' is not an integer"),
        (None, ["1", " ".join(["0"] * 2303 + ["300"]), "Training"], "row 86: pixel values must lie in 0..255"),
        (None, ["1", " ".join(["0"] * 2303 + ["a"]), "Training"], "row 86: pixels contains a value"),
        (None, ["1", " ".join(["0"] * 2304), "Validation"], "row 86: Usage 'Validation' is not one of"),
    ],
)
def test_bad_csv_one_line_exit_2(tmp_path, capsys, header, row, message):
    p = tmp_path / "fer2013.csv"
    if header:
        p.write_text(",".join(header) + "\n3,1 2,Training\n")
    else:
        make_csv(p, {"Training": 12}, rows=[row])
    rc = main(["data", "summary", str(p)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert message in err and str(p) in err


def test_missing_path_and_wrong_file(tmp_path, capsys):
    assert main(["data", "summary", str(tmp_path / "nope.zip")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    assert main(["data", "summary", str(f)]) == 2
    assert "not a FER-2013 source" in capsys.readouterr().err


def test_no_public_test_carves_stratified_val(tmp_path):
    root = make_kaggle(tmp_path / "f", {"train": 20, "test": 5}, prefixes=False)
    d = load_fer2013(root)
    assert any("carved a stratified 10% val split" in n for n in d.notes)
    assert d.splits["val"].class_counts() == dict.fromkeys(CLASSES, 2)
    assert len(d.splits["train"]) == 7 * 18 and len(d.splits["test"]) == 7 * 5
    assert not set(d.splits["val"].names) & set(d.splits["train"].names)
    again = load_fer2013(root)
    assert again.splits["val"].names == d.splits["val"].names  # seeded


def test_summary_json_duplicates_black_and_plot(kaggle_dir, tmp_path, capsys):
    src = next((kaggle_dir / "train" / "happy").iterdir())
    # byte-identical copy in val with a conflicting label, and one within train
    (kaggle_dir / "test" / "sad" / "PublicTest_dup.png").write_bytes(src.read_bytes())
    (kaggle_dir / "train" / "happy" / "Training_dup.png").write_bytes(src.read_bytes())
    (kaggle_dir / "train" / "fear" / "Training_black.png").write_bytes(
        png_bytes(np.zeros((48, 48), np.uint8), fmt="PNG")
    )
    plot = tmp_path / "dist.png"
    assert main(["data", "summary", str(kaggle_dir), "--json", "--plot", str(plot)]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["splits"]["train"]["happy"] == 13 and s["splits"]["val"]["sad"] == 5
    assert set(s["splits"]["test"]) == set(CLASSES)
    assert s["duplicates"] == {**s["duplicates"], "groups": 1, "cross_split_groups": 1, "conflicting_label_groups": 1}
    assert s["duplicates"]["files"] == 3
    assert s["all_black"]["count"] == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_truncated_zip_is_called_corrupt(kaggle_dir, tmp_path, capsys):
    import shutil

    z = Path(shutil.make_archive(str(tmp_path / "fer"), "zip", kaggle_dir))
    cut = tmp_path / "cut.zip"
    cut.write_bytes(z.read_bytes()[: z.stat().st_size // 2])  # an interrupted download
    assert main(["data", "summary", str(cut)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cut.zip: a corrupt or truncated zip" in err and "download it again" in err


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
