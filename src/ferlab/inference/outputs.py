"""What `ferlab predict` writes: one result per image (path, model, TTA, faces) and the CSV of
faces — a row per face, with the model and test-time augmentation that made its numbers."""

from __future__ import annotations

import csv
import os

from ferlab.io import atomic_write


def image_result(path: str, rec, faces: list) -> dict:
    return {"path": path, "model": rec.name, "tta": rec.tta, "faces": [f.to_dict() for f in faces]}


def write_faces_csv(out: str | os.PathLike, results: list[dict], classes: list[str]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "face", "x", "y", "w", "h", "score", "label", "confidence", *classes, "model", "tta"])
            for r in results:
                for i, f in enumerate(r["faces"], 1):
                    w.writerow(
                        [r["path"], i, *f["box"], f["score"], f["label"], f["confidence"]]
                        + [f["probs"][c] for c in classes]
                        + [r["model"], r["tta"]]
                    )

    atomic_write(out, write)
