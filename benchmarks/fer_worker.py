"""Runs `fer`'s own pipeline (FER().detect_emotions: its default Haar detector and Keras
mini-Xception on TensorFlow) on photos given as file paths, in the Python that has fer and
TensorFlow installed; prints JSON: per photo, the faces found and the median ms of
read + detect + classify. Started by benchmarks/pipeline.py; never imports ferlab.

Usage: PYTHON benchmarks/fer_worker.py --repeats 5 PHOTO...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("photos", nargs="+")
    args = ap.parse_args()
    import cv2
    from fer.fer import FER

    detector = FER()  # its defaults: OpenCV Haar cascade, the Keras model
    out = {}
    first = cv2.imread(args.photos[0])
    detector.detect_emotions(first)  # warm-up: TensorFlow builds its graph on the first call
    for p in args.photos:
        times, found = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            faces = detector.detect_emotions(cv2.imread(p))
            times.append(time.perf_counter() - t)
            found = [f["box"] for f in faces]
        out[p] = {"ms": statistics.median(times) * 1000, "boxes": [[int(v) for v in b] for b in found]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
