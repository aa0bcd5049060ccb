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
