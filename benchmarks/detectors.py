"""Face-detector settings compared on recall and speed, to choose the defaults.

Recall proxy: FER-2013 PublicTest faces (real expressions, poses, lighting, occlusions) pasted at
4× (192 px) onto a 640×480 gray frame at a random place; a face counts as found when a detection
overlaps its true box with IoU ≥ 0.3. Speed: median ms per 640×480 frame, this CPU.
Writes benchmarks/results/detectors.json and .md.
Usage: python benchmarks/detectors.py [--n 600]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ferlab.data import load_fer2013
from ferlab.inference.faces import HaarFaceDetector
from ferlab.inference.video import iou
from ferlab.training.machine import machine_info

OUT = Path(__file__).parent / "results"
ALT2 = "haarcascade_frontalface_alt2.xml"
SETTINGS = {
    "Haar default cascade, full size, 5 neighbours (OpenCV's usual)": {
        "cascade": "haarcascade_frontalface_default.xml",
        "min_neighbors": 5,
    },
    "Haar default cascade, 3 neighbours": {"cascade": "haarcascade_frontalface_default.xml", "min_neighbors": 3},
    "Haar alt2 cascade, 5 neighbours": {"cascade": ALT2, "min_neighbors": 5},
    "Haar alt2 cascade, 3 neighbours (photo default)": {"cascade": ALT2, "min_neighbors": 3},
    "Haar alt2, 3 neighbours, searched at 320 px (video default)": {
        "cascade": ALT2,
        "min_neighbors": 3,
        "max_side": 320,
    },
    "Haar alt2, 3 neighbours, 320 px, step 1.2": {
        "cascade": ALT2,
        "min_neighbors": 3,
        "max_side": 320,
        "scale_factor": 1.2,
    },
}


def frames(n: int, data: str, seed: int = 0):
    val = load_fer2013(data).split("val")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(val), size=min(n, len(val)), replace=False)
    for i in idx:
        face = cv2.resize(val.images[int(i)].numpy(), (192, 192), interpolation=cv2.INTER_CUBIC)
        frame = np.full((480, 640), 110, np.uint8)
        x, y = int(rng.integers(0, 640 - 192)), int(rng.integers(0, 480 - 192))
        frame[y : y + 192, x : x + 192] = face
        yield cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB), (x, y, 192, 192)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/fer2013-no-private.zip")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    samples = list(frames(args.n, args.data))
    rows = []
    for name, kw in SETTINGS.items():
        det = HaarFaceDetector(**kw)
        found, times, false_pos = 0, [], 0
        for rgb, box in samples:
            t = time.perf_counter()
            dets = det.detect(rgb)
            times.append(time.perf_counter() - t)
            hits = [d for d in dets if iou(d.box, box) >= 0.3]
            found += bool(hits)
            false_pos += len(dets) - len(hits)
        rows.append(
            {
                "setting": name,
                "kwargs": kw,
                "recall": found / len(samples),
                "false_positives_per_frame": false_pos / len(samples),
                "ms_per_frame": statistics.median(times) * 1000,
            }
        )
        print(rows[-1], flush=True)
    res = {"n": len(samples), "rows": rows, "machine": machine_info()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "detectors.json").write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    md = [
        f"# Face detection: recall on {len(samples)} FER-2013 PublicTest faces, and speed",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only. Each face pasted at 192 px on a 640×480 frame.",
        "",
        "| setting | recall (IoU ≥ 0.3) | false positives / frame | ms / frame (median) |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        md.append(
            f"| {r['setting']} | {r['recall']:.3f} | {r['false_positives_per_frame']:.3f} | {r['ms_per_frame']:.1f} |"
        )
    md += [
        "",
        "BlazeFace (mediapipe 0.10.21) was not compared: its wheel requires numpy<2, jax and "
        "opencv-contrib, which conflict with this project's dependencies. MTCNN (facenet-pytorch) needs "
        "torchvision, unusable with the CPU torch wheel here.",
        "",
        "Reproduce: `python benchmarks/detectors.py`",
        "",
    ]
    (out / "detectors.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
