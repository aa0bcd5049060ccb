"""Does turning faces upright on their eyes help? Whole-pipeline accuracy on FER-2013 PublicTest
faces pasted into real backgrounds (ferlab.evaluation.scenes) at 64–300 px, rotated up to ±30°
(and, as a control, upright), where the label is known: each face the detector finds is
classified after alignment (`align_face`, at several context factors) and after the square crop
around its box (`crop_face`, at several margins). The same faces as they are in FER-2013 give the
ceiling. Also fits FER-2013's framing from the landmarks on the upright scenes (the constants in
ferlab.inference.faces).

Writes benchmarks/results/alignment.json and .md.
Usage: python benchmarks/alignment.py [--scenes 300] [--detector centerface]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ferlab.data import load_fer2013
from ferlab.detectors import build_detector
from ferlab.evaluation.scenes import backgrounds, make_scene, match
from ferlab.inference.faces import align_face, crop_face
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data

OUT = Path(__file__).parent / "results"
CONTEXTS = (0.9, 1.0, 1.1, 1.2)
MARGINS = (0.0, 0.1, 0.2)


def framing_fit(found: list) -> dict:
    """Median centre position (eyes → mouth) and side / (eye distance + eye-to-mouth) of the true squares."""
    centre, side = [], []
    for det, truth in found:
        pts = np.asarray(det.landmarks)
        eyes, mouth = (pts[0] + pts[1]) / 2, (pts[3] + pts[4]) / 2
        span = np.linalg.norm(pts[1] - pts[0]) + np.linalg.norm(mouth - eyes)
        centre.append((truth.center[1] - eyes[1]) / (mouth[1] - eyes[1]))
        side.append(truth.side / span)
    return {"centre": float(np.median(centre)), "side": float(np.median(side)), "n": len(found)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--detector", default="centerface")
    ap.add_argument("--detector-weights")
    # the pasted faces carry FER-2013's own labels: the model of those labels classifies them
    ap.add_argument("--model", default="fer-vgg-wide")
    ap.add_argument("--tta", default="none", help="test-time augmentation while classifying (default: none)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    val = load_fer2013(args.data).split("val")
    faces, labels = val.images.numpy(), val.labels.numpy()
    bgs = backgrounds()
    det = build_detector(args.detector, weights=args.detector_weights)
    rec = Recognizer(args.model, backend="onnxruntime", tta=args.tta)
    res = {"model": args.model, "tta": rec.tta, "detector": args.detector, "machine": machine_info(), "runs": {}}
    for rotation in (30.0, 0.0):
        rng = np.random.default_rng(7)
        found = []
        for _ in range(args.scenes):
            rgb, truth = make_scene(
                rng, faces, labels, bgs, side=(64, 300), max_angle=rotation, occlude=0, blur=0, dark=0
            )
            dets = det.detect(rgb)
            found += [(rgb, dets[di], truth[ti]) for di, ti in match(dets, truth) if dets[di].landmarks]
        y = np.array([t.label for _, _, t in found])

        def accuracy(crops: list[np.ndarray], y=y) -> float:
            return float((rec.probabilities(np.stack(crops)).argmax(1) == y).mean())

        row = {
            "faces": len(found),
            "ceiling (the FER-2013 faces themselves)": accuracy([faces[t.index] for *_, t in found]),
        }
        for c in CONTEXTS:
            row[f"aligned, context {c:g}"] = accuracy([align_face(rgb, d.landmarks, c) for rgb, d, _ in found])
        for m in MARGINS:
            row[f"square crop, margin {m:g}"] = accuracy([crop_face(rgb, d.box, m) for rgb, d, _ in found])
        if rotation == 0.0:
            res["framing_fit"] = framing_fit([(d, t) for _, d, t in found])
        res["runs"][f"rotated up to ±{rotation:g}°"] = row
        print(rotation, json.dumps(row), flush=True)
    m = res["machine"]
    runs = list(res["runs"])
    keys = [k for k in res["runs"][runs[0]] if k != "faces"]
    md = [
        f"## Alignment: whole-pipeline accuracy on pasted PublicTest faces ({args.detector}, {args.model}, "
        f"TTA {rec.tta})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores. Faces 64–300 px in real backgrounds; the label is known. "
        + "; ".join(f"{r}: {res['runs'][r]['faces']} faces found" for r in runs)
        + ".",
        "",
        "| crop | " + " | ".join(runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    md += [f"| {k} | " + " | ".join(f"{res['runs'][r][k]:.4f}" for r in runs) + " |" for k in keys]
    f = res["framing_fit"]
    md += [
        "",
        f"FER-2013 framing fitted on the upright scenes ({f['n']} faces): centre {f['centre']:.3f} of the way "
        f"from the eyes to the mouth, side {f['side']:.3f} × (eye distance + eye-to-mouth distance).",
        "",
        "Reproduce: `python benchmarks/alignment.py`",
        "",
    ]
    write_results(args.out, "alignment", res, md)


if __name__ == "__main__":
    main()
