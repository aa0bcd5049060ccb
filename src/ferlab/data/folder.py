"""Any labelled image folder, `<root>/<class>/<image>`, as cross-dataset tests use them (RAF-DB,
CK+, JAFFE, AffectNet exports…): class folders matched by name with aliases (anger → angry,
happiness → happy, surprised → surprise, …), classes outside FER-2013's seven (contempt) skipped
and counted, images of any size, mode and format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferlab.errors import FerlabError
from ferlab.labels import CLASSES, canonical_class
from ferlab.paths import IMAGE_EXTS

FER_LAYOUT_DIRS = {"train", "training", "test", "testing", "val", "valid", "validation", "publictest"}


@dataclass
class LabelledFolder:
    root: Path
    files: list[Path]
    labels: np.ndarray  # index into the classes it was read with
    class_dirs: dict[str, str] = field(default_factory=dict)  # folder name → class
    skipped_classes: dict[str, int] = field(default_factory=dict)  # folder name → images not used


def is_labelled_folder(path: str | Path) -> bool:
    """A folder of folders that is not FER-2013's train/test layout: read as class folders."""
    p = Path(path)
    if not p.is_dir():
        return False
    subs = [d.name for d in p.iterdir() if d.is_dir()]
    return bool(subs) and not any(s.lower() in FER_LAYOUT_DIRS for s in subs)


def _images(d: Path) -> list[Path]:
    return sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)


def read_labelled_folder(path: str | Path, classes: tuple[str, ...] = CLASSES) -> LabelledFolder:
    """Class folders → files and label indices into `classes` (an 8-class model's include contempt);
    folders of other classes are skipped and counted."""
    root = Path(path)
    if not root.is_dir():
        raise FerlabError(f"{root}: not a folder")
    files, labels, dirs, skipped = [], [], {}, {}
    for d in sorted(x for x in root.iterdir() if x.is_dir()):
        images = _images(d)
        cls = canonical_class(d.name)
        if cls not in classes:
            skipped[d.name] = len(images)
            continue
        dirs[d.name] = cls
        files += images
        labels += [classes.index(cls)] * len(images)
    if not files:
        raise FerlabError(
            f"{root}: no images in folders named after the classes ({', '.join(classes)}, or aliases such as "
            f"anger, happiness, surprised)" + (f"; skipped folders: {', '.join(skipped)}" if skipped else "")
        )
    return LabelledFolder(root, files, np.asarray(labels, np.int64), dirs, skipped)
