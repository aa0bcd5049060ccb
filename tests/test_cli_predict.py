"""`ferlab predict`'s edges: folders without images, unusable outputs refused before work, annotated
copies, a missing YuNet file."""

from __future__ import annotations

from conftest import PHOTO
from PIL import Image

from ferlab.cli import main


def test_predict_on_a_folder_without_images_says_so(ckpt, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no pictures here")
    assert main(["predict", str(empty), "--model", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: no images found in this folder or below" in err and err.count("\n") == 1


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


def test_a_missing_yunet_file_is_reported_once_before_any_image(tmp_path, capsys):
    for i in range(3):
        (tmp_path / f"p{i}.jpg").write_bytes(PHOTO.read_bytes())
    rc = main(["predict", str(tmp_path), "--detector", "yunet", "--detector-weights", str(tmp_path / "none.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("ferlab: error:") == 1 and "none.onnx" in err


def test_annotated_copies_of_same_named_inputs_never_overwrite_each_other(tmp_path):
    for d in ("c1", "c2", "A/sub", "B"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("c1/x.jpg", "c2/x.jpg", "A/sub/x.jpg", "B/x.jpg", "B/x.jpeg"):
        (tmp_path / f).write_bytes(PHOTO.read_bytes())
    ann = tmp_path / "ann"
    files = [str(tmp_path / "c1" / "x.jpg"), str(tmp_path / "c2" / "x.jpg")]
    assert main(["predict", *files, "--annotate", str(ann)]) == 0
    folders = [str(tmp_path / "A"), str(tmp_path / "B")]
    assert main(["predict", *folders, "--annotate", str(ann / "two")]) == 0
    made = sorted(str(p.relative_to(ann)) for p in ann.rglob("*_annotated.*"))
    root = str(tmp_path).lstrip("/")
    assert made == sorted(
        [
            f"{root}/c1/x_annotated.jpg",
            f"{root}/c2/x_annotated.jpg",
            f"two/{root}/A/sub/x_annotated.jpg",
            f"two/{root}/B/x_annotated.jpg",
            f"two/{root}/B/x_jpeg_annotated.jpg",
        ]
    )


def test_labels_and_panels_of_faces_side_by_side_never_cover_each_other():
    from ferlab.inference.annotate import _overlap, layout
    from ferlab.inference.recognizer import Face
    from ferlab.labels import CLASSES

    probs = dict(zip(CLASSES, [0.05, 0.05, 0.05, 0.6, 0.1, 0.05, 0.1], strict=True))
    faces = [Face((20 + 150 * i, 100, 120, 120), 1.0, "happy", probs) for i in range(4)]  # the last at the edge
    placed, _ = layout(faces, (600, 400))
    boxes = [(x, y, x + w, y + h) for x, y, w, h in (f.box for f in faces)]
    for i, p in enumerate(placed):
        assert 0 <= p.label[0] and p.label[2] <= 600  # no label clipped at the right edge
        others = [r for j, q in enumerate(placed) if j != i for r in (q.label, boxes[j], q.panel) if r]
        assert p.panel is not None and not any(_overlap(p.panel, r) for r in others), (i, p)
        assert not any(_overlap(p.label, q.label) for j, q in enumerate(placed) if j != i)
