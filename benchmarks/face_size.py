"""How small a face can be and still be read, and what that asks of the detector on small photos.

1. Readability: the bundled default, as shipped, on FER-2013 PublicTest faces seen at s pixels
   (each 48×48 face reduced to s×s, then brought back to 48×48 the way a detected crop is).
2. Detection on small photos (640×480, the size of a web or chat photo): PublicTest faces pasted
   into real backgrounds at known sizes (upright ±15°, not covered, blurred or darkened), recall of
   the shipped detector when such a photo is searched at its full size or reduced (scale ≤ 1), and
   the detector's time per photo.

Together they say how far a small photo can be reduced before the detector loses faces that the
classifier could still read (the photo search scale cap in ferlab.detectors).
Writes benchmarks/results/face_size.json and .md.

Usage: python benchmarks/face_size.py [--data ZIP] [--scenes 60]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ferlab.data import load_fer2013
from ferlab.detectors import CENTERFACE_THRESHOLD, build_detector
from ferlab.evaluation.scenes import backgrounds, make_scene, match
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data

OUT = Path(__file__).parent / "results"
SIDES = (12, 16, 20, 24, 32, 40, 48)
BANDS = ((16, 24), (24, 32), (32, 48), (48, 96), (96, 240))
SCALES = (1.0, 0.8, 0.75, 0.6, 0.5)


def seen_at(faces: np.ndarray, side: int) -> np.ndarray:
    if side == 48:
        return faces
    small = [cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in faces]
    return np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) for f in small])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--scenes", type=int, default=60, help="640×480 photos per face-size band")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    val = load_fer2013(args.data).split("val")
    faces, labels = val.images.numpy(), val.labels.numpy()
    rec = Recognizer()  # as shipped
    readable = {}
    for side in SIDES:
        pred = rec.probabilities(seen_at(faces, side)).argmax(1)
        readable[side] = float((pred == labels).mean())
        print(f"{side} px: accuracy {readable[side]:.4f}", flush=True)

    bgs, rng = backgrounds(), np.random.default_rng(5)
    scenes = {
        band: [
            make_scene(
                rng,
                faces,
                labels,
                bgs,
                size=(640, 480),
                n_faces=(2, 3),
                side=band,
                max_angle=15,
                occlude=0,
                blur=0,
                dark=0,
            )
            for _ in range(args.scenes)
        ]
        for band in BANDS
    }
    detection = {}
    for scale in SCALES:
        det = build_detector("centerface", max_side=round(640 * scale), threshold=CENTERFACE_THRESHOLD)
        row, times = {}, []
        for band, frames in scenes.items():
            hit = total = 0
            for rgb, truth in frames:
                t = time.perf_counter()
                dets = det.detect(rgb)
                times.append(time.perf_counter() - t)
                hit += len(match(dets, truth))
                total += len(truth)
            row[f"{band[0]}-{band[1]}"] = hit / total
        detection[str(scale)] = {"recall": row, "ms_per_photo": statistics.median(times) * 1000}
        print(scale, detection[str(scale)], flush=True)

    res = {
        "model": rec.name,
        "tta": rec.tta,
        "backend": rec.backend,
        "precision": rec.precision,
        "readable": {str(k): v for k, v in readable.items()},
        "detection_640x480": detection,
        "machine": machine_info(),
    }
    m = res["machine"]
    md = [
        "# How small a face can be: reading it, and finding it in a small photo",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores. Accuracy of `{rec.name}` as shipped ({rec.backend} "
        f"{rec.precision}, TTA {rec.tta}) on FER-2013 PublicTest (n={len(faces)}) with each face seen at s "
        "pixels (reduced to s×s, brought back to 48×48 as a detected crop is):",
        "",
        "| face side (px) | " + " | ".join(str(s) for s in SIDES) + " |",
        "|---|" + "---:|" * len(SIDES),
        "| accuracy | " + " | ".join(f"{readable[s]:.3f}" for s in SIDES) + " |",
        "",
        f"Recall of the shipped detector (CenterFace int8, threshold {CENTERFACE_THRESHOLD}) on 640×480 photos "
        f"({args.scenes} per band, 2–3 PublicTest faces each, upright ±15°), the photo searched at a scale of "
        "its size; ms per photo for detection alone (median):",
        "",
        "| search scale (long side) | " + " | ".join(f"faces {a}–{b} px" for a, b in BANDS) + " | ms / photo |",
        "|---|" + "---:|" * (len(BANDS) + 1),
    ]
    for scale, d in detection.items():
        cells = " | ".join(f"{d['recall'][f'{a}-{b}']:.3f}" for a, b in BANDS)
        md.append(f"| {float(scale):g} ({round(640 * float(scale))} px) | {cells} | {d['ms_per_photo']:.1f} |")
    md += ["", "Reproduce: `python benchmarks/face_size.py`", ""]
    write_results(args.out, "face_size", res, md)


if __name__ == "__main__":
    main()
