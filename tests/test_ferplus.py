"""FER+ labels: the vote protocols, the three readers (FERPlus folders, fer2013.csv + votes,
Kaggle + the shipped join), the label modes in training and evaluation, and their errors."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REAL_DATA, face
from PIL import Image

from ferlab.cli import main
from ferlab.data import load_fer2013
from ferlab.data.ferplus import (
    VOTE_COLUMNS,
    kaggle_rows,
    majority_labels,
    read_vote_file,
    soft_labels,
)
from ferlab.errors import FerlabError
from ferlab.labels import CLASSES

FERPLUS_ZIP = REAL_DATA.parent / "ferplus" / "ferplus-no-test.zip"
C = CLASSES.index
# a FER-2013 class index → its column among FER+'s vote columns (neutral, happiness, surprise, ...)
VOTE_COLUMN = {C(c): i for i, c in enumerate(["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear"])}


def votes(**kw) -> list[int]:
    return [kw.get(c, 0) for c in VOTE_COLUMNS]


# ----------------------------------------------------------------------------- protocols


def test_majority_protocol_outliers_ties_and_non_emotions():
    rows = np.array(
        [
            votes(happiness=6, neutral=4),  # clear majority
            votes(anger=5, disgust=1, fear=1, sadness=1, surprise=1, neutral=1),  # 1s are outliers: 5 of 5
            votes(anger=5, sadness=5),  # tie: "more than half" fails
            votes(contempt=7, neutral=3),  # contempt has no FER-2013 class
            votes(unknown=6, neutral=4),
            votes(NF=10),
            votes(neutral=4, sadness=3, anger=3),  # 4 of 10: no majority
        ]
    )
    assert majority_labels(rows).tolist() == [C("happy"), C("angry"), -1, -1, -1, -1, -1]


def test_the_8_class_protocol_keeps_contempt_as_its_eighth_class():
    rows = np.array([votes(contempt=7, neutral=3), votes(happiness=6, contempt=4), votes(unknown=6, contempt=4)])
    assert majority_labels(rows, 8).tolist() == [7, C("happy"), -1]
    assert majority_labels(rows).tolist() == [-1, C("happy"), -1]  # 7 classes: contempt's majority is dropped
    dist, keep = soft_labels(rows, 8)
    assert dist.shape == (3, 8) and keep.tolist() == [True, True, False]
    assert dist[0, 7] == pytest.approx(0.7) and dist[1, 7] == pytest.approx(0.4)
    dist7, keep7 = soft_labels(rows)
    assert dist7.shape == (3, 7) and keep7.tolist() == [False, True, False]


def test_an_8_class_model_trains_on_contempt_is_scored_on_8_classes_and_refuses_7(tmp_path, capsys):
    import json

    from conftest import PHOTO

    out = _train_on_ferplus(tmp_path, "ferplus-soft8", n=40, classes=8)
    card = json.loads((out / "best" / "card.json").read_text())
    assert card["classes"][-1] == "contempt" and len(card["classes"]) == 8
    capsys.readouterr()
    assert main(["data", "summary", str(tmp_path / "fp"), "--labels", "ferplus-majority8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["train"]["contempt"] == 5  # counted as a class
    assert card["arch_config"]["num_classes"] == 8 and card["training"]["labels"] == "ferplus-soft8"
    capsys.readouterr()
    # an 8-class model is scored on FER+'s 8-class protocol unless told otherwise
    plot = tmp_path / "confusion8.png"
    assert main(["evaluate", "--model", str(out), "--data", str(tmp_path / "fp"), "--json", "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"  # an 8×8 confusion matrix
    res = json.loads(capsys.readouterr().out)
    assert res["labels"] == "ferplus-majority8" and len(res["confusion"]) == 8
    assert res["support"]["contempt"] == 5  # faces 7, 15, 23, 31, 39 of 40
    # the wrong number of classes, either way, is one line
    assert main(["evaluate", "--model", str(out), "--data", str(tmp_path / "fp"), "--labels", "ferplus-majority"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "an 8-class model" in err and "use --labels ferplus-majority8" in err, err
    assert main(["evaluate", "--data", str(tmp_path / "fp"), "--labels", "ferplus-majority8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "fer-vgg-wide-ferplus: a 7-class model" in err and "use --labels original or ferplus-majority" in err
    assert main(["predict", str(PHOTO), "--model", str(out), "--classes", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert "gives 8 classes" in err and "--classes 7 without --model uses fer-vgg-wide-ferplus" in err, err
    assert main(["predict", str(PHOTO), "--classes", "8", "--model", "fer-vgg-wide-ferplus"]) == 2
    assert "fer-vgg-wide-ferplus: gives 7 classes" in capsys.readouterr().err
    assert main(["predict", str(PHOTO), "--model", str(out), "--json"]) == 0
    faces = json.loads(capsys.readouterr().out)[0]["faces"]
    assert faces and all(set(f["probs"]) == set(card["classes"]) for f in faces)
    # a labelled folder's contempt/ faces count for an 8-class model, and are skipped and counted for a 7-class one
    for cls, label in (("happy", C("happy")), ("contempt", 7)):
        (tmp_path / "folder" / cls).mkdir(parents=True)
        for j in range(3):
            (tmp_path / "folder" / cls / f"{j}.png").write_bytes(_png(face(label, 500 + j)))
    assert main(["evaluate", "--model", str(out), "--data", str(tmp_path / "folder"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["support"]["contempt"] == 3
    assert main(["evaluate", "--data", str(tmp_path / "folder"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "contempt" not in res["support"] and res["skipped_classes"] == {"contempt": 3}, res.get("skipped_classes")


def test_soft_labels_are_the_cleaned_7_class_distribution():
    rows = np.array([votes(neutral=6, sadness=3, anger=1), votes(NF=8, happiness=2), votes(contempt=2, happiness=8)])
    dist, keep = soft_labels(rows)
    assert keep.tolist() == [True, False, True]
    assert dist[0, C("neutral")] == pytest.approx(6 / 9) and dist[0, C("sad")] == pytest.approx(3 / 9)
    assert dist[0, C("angry")] == 0  # one vote: removed as an outlier
    assert dist[2, C("happy")] == pytest.approx(1.0)  # contempt votes leave the 7-class distribution
    assert np.allclose(dist[keep].sum(1), 1)


# ----------------------------------------------------------------------------- FERPlus folder layout


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _ferplus_tree(
    root: Path, splits=("FER2013Train", "FER2013Valid"), n: int = 28, classes: int = 7
) -> dict[str, list]:
    """FERPlus folders whose images carry a learnable class and whose votes name it (some rows
    unusable: not a face, or no majority); returns the expected majority label per split.
    classes=8: every eighth face is contempt's (label 7)."""
    emo_col = {**VOTE_COLUMN, 7: 7}  # contempt
    expected = {}
    for s_i, split in enumerate(splits):
        d = root / split
        d.mkdir(parents=True)
        rows, exp = [], []
        for i in range(n):
            label = i % classes
            name = f"fer{s_i:02d}{i:05d}.png"
            (d / name).write_bytes(_png(face(label, 1000 * s_i + i)))
            v = [0] * 10
            if i % 9 == 8:
                v[9] = 10  # not a face
                exp.append(-1)
            else:
                v[emo_col[label]] = 8
                v[8] = 2
                exp.append(label)
            rows.append([name, "(0, 0, 48, 48)", *v])
        with open(d / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        expected[split] = exp
    return expected


def _train_on_ferplus(tmp_path: Path, labels: str, n: int, classes: int = 7) -> Path:
    """One epoch of CNN V2.1 on a generated FERPlus tree (tmp_path/fp) with a FER+ label mode; its run dir."""
    _ferplus_tree(tmp_path / "fp", n=n, classes=classes)
    out = tmp_path / "run"
    rc = main(
        ["train", "--config", "configs/cnn_v2_1.yaml", "--data", str(tmp_path / "fp"), "--labels", labels,
         "--epochs", "1", "--out", str(out), "--no-progress", "--batch-size", "16"]
    )  # fmt: skip
    assert rc == 0
    return out


def test_ferplus_folder_majority_labels_and_skipped_count(tmp_path):
    exp = _ferplus_tree(tmp_path)
    data = load_fer2013(tmp_path)  # a FERPlus layout defaults to the majority protocol
    assert data.labels == "ferplus-majority"
    want = [x for x in exp["FER2013Valid"] if x >= 0]
    assert data.splits["val"].labels.tolist() == want
    assert data.label_counts["val"] == {"images": 28, "kept": len(want), "not_in_ferplus": 0, "no_usable_label": 3}
    assert any("skipped 3" in n for n in data.notes)
    soft = load_fer2013(tmp_path, labels="ferplus-soft")
    tr = soft.splits["train"]
    assert tr.soft is not None and tr.soft.shape == (len(tr), 7)
    assert torch.equal(tr.soft.argmax(1), tr.labels)
    assert soft.splits["val"].soft is None  # val keeps the majority protocol


def test_ferplus_zip_equals_folder_and_a_root_with_only_valid(tmp_path):
    _ferplus_tree(tmp_path / "tree")
    z = tmp_path / "ferplus.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted((tmp_path / "tree").rglob("*")):
            if f.is_file():
                zf.write(f, "FERPlus/" + f.relative_to(tmp_path / "tree").as_posix())
    a, b = load_fer2013(tmp_path / "tree"), load_fer2013(z)
    assert torch.equal(a.splits["val"].images, b.splits["val"].images)
    assert torch.equal(a.splits["val"].labels, b.splits["val"].labels)
    only = tmp_path / "only"
    _ferplus_tree(only, splits=("FER2013Valid",))
    d = load_fer2013(only)
    assert len(d.split("val")) > 0
    with pytest.raises(FerlabError, match="no FER2013Train/ folder"):
        d.split("train")


def test_ferplus_cli_errors_one_line(tmp_path, capsys):
    _ferplus_tree(tmp_path)
    (tmp_path / "FER2013Valid" / "label.csv").unlink()
    assert main(["data", "summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "FER2013Valid/label.csv not found" in err
    (tmp_path / "FER2013Valid" / "label.csv").write_text("fer0000000.png,(0 0 48 48),1,2,3\n")
    assert main(["data", "summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "label.csv: row 1: expected image name, face box and 10 vote counts" in err
    with pytest.raises(FerlabError, match="holds FER\\+ votes, not the original FER-2013 labels"):
        load_fer2013(tmp_path, labels="original")


# ----------------------------------------------------------------------------- fer2013.csv + fer2013new.csv


def _csv_pair(tmp_path: Path, n: int = 30) -> tuple[Path, Path, list[int]]:
    usages = ["Training"] * (n - 8) + ["PublicTest"] * 8
    rows, vrows, exp = [], [], []
    emo_col = VOTE_COLUMN
    for i, u in enumerate(usages):
        orig = i % 7
        ferplus = (i + 1) % 7 if i % 3 == 0 else orig  # FER+ disagrees with a third of the labels
        rows.append([orig, " ".join(map(str, face(orig, i).ravel())), u])
        v = [0] * 10
        v[emo_col[ferplus]] = 7
        v[0 if emo_col[ferplus] else 1] += 3
        vrows.append([u, f"fer{i:07d}.png", *v])
        exp.append(ferplus)
    f, fv = tmp_path / "fer2013.csv", tmp_path / "fer2013new.csv"
    with open(f, "w", newline="") as fh:
        csv.writer(fh).writerows([["emotion", "pixels", "Usage"], *rows])
    with open(fv, "w", newline="") as fh:
        csv.writer(fh).writerows([["Usage", "Image name", *VOTE_COLUMNS], *vrows])
    return f, fv, exp


def test_csv_with_vote_file_joins_by_row(tmp_path):
    f, fv, exp = _csv_pair(tmp_path)
    orig = load_fer2013(f)
    fp = load_fer2013(f, labels="ferplus-majority", votes=fv)
    assert fp.splits["train"].labels.tolist() == exp[:22]
    assert fp.splits["val"].labels.tolist() == exp[22:]
    assert torch.equal(orig.splits["train"].images, fp.splits["train"].images)
    assert not torch.equal(orig.splits["train"].labels, fp.splits["train"].labels)


def test_vote_file_errors(tmp_path):
    f, fv, _ = _csv_pair(tmp_path)
    short = tmp_path / "short.csv"
    short.write_text("\n".join(fv.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(FerlabError, match=r"30 rows, but .*short.csv has 29"):
        load_fer2013(f, labels="ferplus-majority", votes=short)
    cols = tmp_path / "cols.csv"
    cols.write_text("Usage,neutral,happiness\nTraining,1,2\n")
    with pytest.raises(FerlabError, match=r"cols.csv: wrong columns .*a FER\+ vote file"):
        read_vote_file(cols)
    # the shipped file is complete and checked like any other
    v, usages = read_vote_file()
    assert v.shape == (35887, 10) and usages.count("PublicTest") == 3589


def test_csv_with_shipped_votes_needs_the_complete_csv(tmp_path):
    f, _, _ = _csv_pair(tmp_path)
    with pytest.raises(FerlabError, match=r"30 rows, but ferlab's shipped fer2013new.csv has 35887"):
        load_fer2013(f, labels="ferplus-majority")


# ----------------------------------------------------------------------------- Kaggle layout + shipped join


def test_kaggle_layout_through_the_shipped_join(tmp_path):
    table = kaggle_rows()
    v, _ = read_vote_file()
    train_keys = [k for k in table if k.startswith("train/")]
    maj = majority_labels(v[[table[k] for k in train_keys]])
    # five training files for each class FER+ gives them, so every class has training images
    picks = {"train": [k for c in range(7) for k in [k for k, m in zip(train_keys, maj, strict=True) if m == c][:5]]}
    val_keys = [k for k in table if "PublicTest" in k]
    picks["val"] = val_keys[:: len(val_keys) // 40][:40]
    root = tmp_path / "kaggle" / "fer2013"  # unpacked one folder deeper than the table's names
    for i, key in enumerate(picks["train"] + picks["val"]):
        p = root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face(C(p.parent.name), i)).save(p)
    # every class needs a training image, so pad with files the join does not know
    for c in CLASSES:
        p = root / "train" / c / "Training_0.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face(C(c), 99)).save(p)
    data = load_fer2013(tmp_path / "kaggle", labels="ferplus-majority")
    want = [int(x) for x in majority_labels(v[[table[k] for k in picks["val"]]]) if x >= 0]
    assert data.splits["val"].labels.tolist() == want
    c = data.label_counts["train"]
    assert c["not_in_ferplus"] == 7 and c["images"] == 42 and c["kept"] == 35


def test_kaggle_copy_not_in_the_join_is_refused(kaggle_dir, capsys):
    assert main(["data", "summary", str(kaggle_dir), "--labels", "ferplus-majority"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none of its files is in the FER+ join table" in err


# ----------------------------------------------------------------------------- training and evaluation


def test_soft_label_loss_is_cross_entropy_against_the_votes():
    from ferlab.training.module import FerModule

    m = FerModule("cnn-v2.1", soft_labels=True)
    logits = torch.randn(4, 7)
    target = torch.softmax(torch.randn(4, 7), 1)
    want = -(target * logits.log_softmax(1)).sum(1).mean()
    assert torch.allclose(m._loss(logits, target), want)
    hard = torch.tensor([0, 1, 2, 3])
    assert torch.allclose(m._loss(logits, torch.eye(7)[hard]), torch.nn.functional.cross_entropy(logits, hard))


def test_train_on_ferplus_soft_labels_and_evaluate(tmp_path, capsys):
    out = _train_on_ferplus(tmp_path, "ferplus-soft", n=35)
    import json

    card = json.loads((out / "best" / "card.json").read_text())
    assert card["training"]["labels"] == "ferplus-soft"
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(tmp_path / "fp"), "--split", "val", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["labels"] == "ferplus-majority" and res["n"] == 35 - 3
    assert res["label_counts"]["no_usable_label"] == 4 - 1  # rows 8, 17, 26 of 35 are not faces


def test_evaluate_reports_accuracy_without_train_duplicates(tmp_path, capsys):
    import json

    root = tmp_path / "k"
    for split, prefix in (("train", "Training"), ("test", "PublicTest")):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for j in range(3):
                seed = C(c) * 10 + j + (100 if split == "test" else 0)
                if split == "test" and j == 0:
                    seed -= 100  # the same picture as a training image
                Image.fromarray(face(C(c), seed)).save(root / split / c / f"{prefix}_{seed}.png")
    assert main(["evaluate", "--data", str(root), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["train_duplicates"] == 7 and res["n_without_train_duplicates"] == 14


@pytest.mark.slow
@pytest.mark.skipif(not FERPLUS_ZIP.exists(), reason=f"real FER+ data not found at {FERPLUS_ZIP}")
def test_real_ferplus_sources_agree(real_data_cache, monkeypatch):
    monkeypatch.setenv("FERLAB_CACHE", str(real_data_cache))
    fp = load_fer2013(FERPLUS_ZIP)
    assert len(fp.splits["train"]) == 24925 and len(fp.splits["val"]) == 3175
    kg = load_fer2013(REAL_DATA, labels="ferplus-majority")
    assert len(kg.splits["val"]) == 3186  # fer2013new.csv's votes; label.csv differs on 246 Valid images
    assert kg.label_counts["val"]["agree_with_original"] == pytest.approx(0.670, abs=0.001)
