"""How a found face is framed before the 48-px network sees it (issue 29): the aligned square's
size against FER-2013's own framing (`context` 1.0, ferlab.inference.faces), the filter of the
last resize to 48 px, and the square crop around the detector's box at several margins, each on

- SFEW 2.0 Train (film faces; choice only, never trained on), faces found by the detector in the
  dataset's crops: accuracy and balanced accuracy over the faces found;
- scenes: FER+-labelled PublicTest faces pasted into real photos (benchmarks/default_choice.py's
  scenes, same seed), through the whole pipeline.

The default model as it ships (prior none). Usage: python benchmarks/framing.py [--scenes 120]
Writes benchmarks/results/framing.json and .md.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from default_choice import scene_accuracy
from real_faces import SHARED, row, sfew_folder

from ferlab.data import load_fer2013
from ferlab.evaluation.evaluate import evaluate_ref
from ferlab.inference import recognizer
from ferlab.inference.faces import face_crop
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, write_results
from ferlab.options import RecognizerOptions
from ferlab.paths import default_data

OUT = Path(__file__).parent / "results"
FILTERS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}
VARIANTS = [
    *({"align": True, "context": c, "filter": "area"} for c in (0.9, 1.0, 1.15, 1.3)),
    {"align": True, "context": 1.0, "filter": "linear"},
    *({"align": False, "margin": m} for m in (0.0, 0.1, 0.25)),
]


def name(v: dict) -> str:
    if v["align"]:
        return f"aligned, context {v['context']:g}, {v['filter']} filter"
    return f"square around the box, margin {v['margin']:g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=120)
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--sfew", default=str(SHARED / "sfew" / "sfew-train.zip"))
    args = ap.parse_args()
    sfew = sfew_folder(Path(args.sfew))
    val = load_fer2013(args.data, labels="ferplus-majority").split("val")
    faces, labels = np.asarray(val.images), np.asarray(val.labels)
    rows = {}
    real = recognizer.face_crop
    try:
        for v in VARIANTS:
            framing = {"context": v["context"], "interpolation": FILTERS[v["filter"]]} if v["align"] else {}
            recognizer.face_crop = functools.partial(face_crop, **framing)
            opts = RecognizerOptions(align=v["align"], margin=v.get("margin", 0.1))
            r = row(evaluate_ref(None, str(sfew), options=opts, detect=True))
            scenes = scene_accuracy(Recognizer(options=opts), faces, labels, args.scenes)
            rows[name(v)] = {"sfew": r, "scenes": scenes}
            print(name(v), f"{r['balanced_accuracy']:.4f}", f"{scenes['accuracy']:.4f}", flush=True)
    finally:
        recognizer.face_crop = real
    res = {"machine": machine_info(), "scenes": args.scenes, "rows": rows}
    md = [
        "### Framing a found face (`python benchmarks/framing.py`)",
        "",
        f"{res['machine']['cpu']}; the default as it ships. SFEW 2.0 Train: faces found in the dataset's crops "
        f"(choice only); scenes: {args.scenes} photos of FER+-labelled PublicTest faces, the whole pipeline.",
        "",
        "| framing | SFEW accuracy | SFEW balanced | SFEW faces | scenes accuracy | scene faces found |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {k} | {r['sfew']['accuracy']:.4f} | {r['sfew']['balanced_accuracy']:.4f} | {r['sfew']['n']} | "
            f"{r['scenes']['accuracy']:.4f} | {r['scenes']['faces_found']} |"
            for k, r in rows.items()
        ),
    ]
    write_results(OUT, "framing", res, md)


if __name__ == "__main__":
    main()
