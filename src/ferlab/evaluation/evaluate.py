"""`evaluate_ref`: one model reference evaluated on one split of FER-2013 — or on any labelled
image folder — the way it ships.

Used by `ferlab evaluate`, `ferlab compare` and bundling. By default the model runs exactly as a
user's photos run it — the backend, precision, test-time augmentation and calibration its card
names — so the number printed is the number the card promises; each can be overridden.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ferlab.options import RecognizerOptions

# Face crops are 48 px in FER-2013 and rarely above 300 px elsewhere (RAF-DB 100, AffectNet 224):
# a folder whose images are this large on median holds photos, not crops
PHOTO_SIDE_HINT = 400


def recognizer_probs(rec, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """(N, classes) probabilities of uint8 (N,48,48) faces, through the recognizer's own path."""
    return np.concatenate([rec.probabilities(images[i : i + batch]) for i in range(0, len(images), batch)])


def evaluate_ref(
    model_ref: str | None,
    data_path: str,
    split: str = "val",
    *,
    options: RecognizerOptions | None = None,
    detect: bool = False,
    progress: bool = False,
    labels: str | None = None,
    votes: str | None = None,
) -> dict:
    """Accuracy, per-class accuracy, macro F1, NLL and confusion of a model on a split, as a dict.
    `options`: how the model runs (default: as its card ships it). A labelled image folder
    (`<root>/<class>/<image>`) is evaluated whole, each image as a face crop, or with `detect`
    through the whole pipeline (detect → align → classify the largest face). `labels` is the label
    mode on a FER-2013 source (original, ferplus-majority; a FERPlus layout defaults to the
    majority protocol). Beside the accuracy on the whole split, the accuracy without the images
    that are pixel-identical to a training image (FER-2013 repeats some faces across splits)."""
    from ferlab.data import load_fer2013
    from ferlab.data.fer2013 import is_ferplus_source
    from ferlab.data.ferplus import evaluation_labels
    from ferlab.data.folder import is_labelled_folder
    from ferlab.evaluation.scores import scores
    from ferlab.inference.recognizer import Recognizer

    rec = Recognizer(model_ref, options=options)
    if is_labelled_folder(data_path) and not is_ferplus_source(Path(data_path)):
        return _evaluate_folder(rec, data_path, detect=detect, progress=progress)
    if detect:
        from ferlab.errors import FerlabError

        raise FerlabError(f"{data_path}: --detect needs a labelled image folder (<root>/<class>/<image>)")
    labels = evaluation_labels(labels, rec.classes, rec.card["name"])
    data = load_fer2013(data_path, labels=labels, votes=votes)
    sp = data.split(split)
    probs, prior = _under_prior(rec, recognizer_probs(rec, np.asarray(sp.images)))
    fresh = without_train_duplicates(data, split)
    labels_np = np.asarray(sp.labels)
    dedup = scores(probs[fresh], labels_np[fresh]) if fresh is not None else None
    return {
        "labels": data.labels,
        "label_counts": data.label_counts.get(split),
        "train_duplicates": int((~fresh).sum()) if fresh is not None else None,
        "accuracy_without_train_duplicates": dedup["accuracy"] if dedup else None,
        "n_without_train_duplicates": dedup["n"] if dedup else None,
        "macro_f1_without_train_duplicates": dedup["macro_f1"] if dedup else None,
        **rec.settings(),
        "detector": None,  # face crops: nothing detected
        "prior": prior,
        "data": str(data_path),
        "split": split,
        **scores(probs, labels_np),
    }


def _under_prior(rec, probs: np.ndarray) -> tuple[np.ndarray, dict]:
    """The probabilities under the recognizer's --prior, and what that prior was: with
    "collection", estimated from these very faces (the evaluated set is the collection)."""
    kind = rec.options.prior
    if kind != "collection":
        target = rec.target_prior
    else:
        from ferlab.runtime.prior import estimate, shift

        target = estimate(probs, rec.train_prior)
        probs = shift(probs, rec.train_prior, target)
    shown = None if target is None else {c: round(float(v), 4) for c, v in zip(rec.classes, target, strict=True)}
    return probs, {"kind": kind, "target": shown}


def without_train_duplicates(data, split: str) -> np.ndarray | None:
    """Mask over `split`: True where the image is not pixel-identical to any training image (None
    when the source has no training split to compare with, or `split` is train)."""
    import hashlib

    if split == "train" or "train" not in data.splits or not len(data.splits["train"]):
        return None

    def keys(images) -> list[bytes]:
        return [hashlib.blake2b(img.tobytes(), digest_size=12).digest() for img in np.asarray(images)]

    train = set(keys(data.splits["train"].images))
    return np.array([k not in train for k in keys(data.splits[split].images)], dtype=bool)


def _evaluate_folder(rec, root: str, *, detect: bool, progress: bool) -> dict:
    from tqdm import tqdm

    from ferlab.data.folder import read_labelled_folder
    from ferlab.errors import FerlabError
    from ferlab.evaluation.scores import scores
    from ferlab.inference.faces import to_face_array
    from ferlab.inference.images import load_image

    folder = read_labelled_folder(root, tuple(rec.classes))  # an 8-class model reads contempt folders too
    crops, keep, unreadable, no_face, sides = [], [], [], 0, []
    for i, f in enumerate(tqdm(folder.files, desc="images", unit="img", disable=not progress)):
        try:
            if detect:  # the recognizer's first stage, as predict runs it; the largest face is scored
                staged = rec.preprocess(f)
                sides.append(max(staged.rgb.shape[:2]))
                if not staged.found:
                    no_face += 1
                    continue
                best = max(staged.found, key=lambda x: x.detection.box[2] * x.detection.box[3])
                crops.append(best.crop)
            else:
                rgb = load_image(f)
                sides.append(max(rgb.shape[:2]))
                crops.append(to_face_array(rgb))
        except FerlabError as e:
            unreadable.append(str(e))
            continue
        keep.append(i)
    labels = folder.labels[keep]
    warning = None
    if not detect and sides:
        median_side = float(np.median(sides))
        if median_side >= PHOTO_SIDE_HINT:
            warning = (
                f"{root}: images are {median_side:.0f} px on their longer side (median): whole photos, not face "
                "crops? each was classified as one face; --detect finds the faces first"
            )
    probs = recognizer_probs(rec, np.stack(crops)) if crops else np.zeros((0, len(rec.classes)), np.float32)
    probs, prior = _under_prior(rec, probs)
    m = scores(probs, labels)
    present = [c for c in rec.classes if m["support"][c] > 0]
    counted = len(folder.files) - len(unreadable)
    return {
        **rec.settings(),
        "detector": rec.detector_name if detect else None,
        "prior": prior,
        "data": str(root),
        "split": "folder",
        "mode": "detect → align → classify the largest face" if detect else "each image as a face crop",
        "images": len(folder.files),
        "class_folders": folder.class_dirs,
        "skipped_classes": folder.skipped_classes,
        "unreadable": len(unreadable),
        "unreadable_examples": unreadable[:5],
        "no_face": no_face,
        "warning": warning,
        # every readable image counts, an image whose face was missed counts as wrong
        "accuracy_all_images": float(m["accuracy"] * m["n"] / counted) if counted else float("nan"),
        "balanced_accuracy": float(np.mean([m["per_class"][c] for c in present])) if present else float("nan"),
        **m,
    }
