"""Face detectors compared on photos whose truth is known, to choose the default and its settings.

Scenes (ferlab.evaluation.scenes): FER-2013 PublicTest faces pasted into real backgrounds that ship
inside installed packages, 24–400 px, rotated ±30°, a quarter partly covered, a quarter blurred,
a quarter of the frames darkened, 1–3 faces per 800×600 frame. A face counts as found when a
detection overlaps its upright square with IoU ≥ 0.3; every other detection is a false positive.
Recall is also given by face size. Sanity set: real photos with faces that ship in packages
(matplotlib's Grace Hopper; scikit-image's astronaut and cameraman where installed).
Speed: median ms per 800×600 frame, this CPU, onnxruntime/OpenCV on 2 threads.

Writes benchmarks/results/detectors.json and .md.
Usage: python benchmarks/detectors.py [--scenes 200] [--yunet ../shared/models/yunet]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from ferlab.data import load_fer2013
from ferlab.detectors import build_detector
from ferlab.evaluation.scenes import FACE_PHOTOS, backgrounds, make_scene, match, read_rgb
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data

OUT = Path(__file__).parent / "results"
SIZES = [(24, 48), (48, 96), (96, 200), (200, 400)]


def settings(yunet: str | None) -> dict[str, tuple[str, dict]]:
    rows = {"Haar alt2, 3 neighbours (the former default)": ("haar", {})}
    for precision in ("fp32", "int8"):
        for side in (640, 480, 320):
            for thr in (0.3, 0.5, 0.7):
                rows[f"CenterFace {precision}, {side} px, threshold {thr}"] = (
                    "centerface",
                    {"max_side": side, "threshold": thr, "precision": precision},
                )
    if yunet:
        for side in (640, 320):
            for thr in (0.5, 0.6, 0.7, 0.9):
                rows[f"YuNet, {side} px, threshold {thr}"] = (
                    "yunet",
                    {"max_side": side, "threshold": thr, "weights": yunet},
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument(
        "--yunet", default="../shared/models/yunet", help="YuNet weights (folder or file); skipped if absent"
    )
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    val = load_fer2013(args.data).split("val")
    faces, labels = val.images.numpy(), val.labels.numpy()
    bgs = backgrounds()
    rng = np.random.default_rng(0)
    scenes = [make_scene(rng, faces, labels, bgs) for _ in range(args.scenes)]
    photos = {spec: (im, n) for spec, n in FACE_PHOTOS.items() if (im := read_rgb(spec)) is not None}
    yunet = args.yunet if args.yunet and Path(args.yunet).exists() else None
    rows = []
    for label, (name, kw) in settings(yunet).items():
        det = build_detector(name, **kw)
        det.detect(scenes[0][0])  # warm-up
        found, false_pos, total, times = 0, 0, 0, []
        by_size = {f"{a}-{b}": [0, 0] for a, b in SIZES}
        for rgb, truth in scenes:
            t = time.perf_counter()
            dets = det.detect(rgb)
            times.append(time.perf_counter() - t)
            pairs = match(dets, truth)
            hit = {ti for _, ti in pairs}
            found += len(pairs)
            total += len(truth)
            false_pos += len(dets) - len(pairs)
            for ti, t_ in enumerate(truth):
                for a, b in SIZES:
                    if a <= t_.side < b or (b == 400 and t_.side >= b):
                        by_size[f"{a}-{b}"][0] += ti in hit
                        by_size[f"{a}-{b}"][1] += 1
        sanity = {spec: len(det.detect(im)) for spec, (im, _) in photos.items()}
        rows.append(
            {
                "setting": label,
                "detector": name,
                "kwargs": {k: v for k, v in kw.items() if k != "weights"},
                "recall": found / total,
                "recall_by_side_px": {k: (v[0] / v[1] if v[1] else None) for k, v in by_size.items()},
                "false_positives_per_frame": false_pos / len(scenes),
                "ms_per_frame": statistics.median(times) * 1000,
                "sanity_faces_found": sanity,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    res = {
        "scenes": len(scenes),
        "faces": sum(len(t) for _, t in scenes),
        "sanity_expected": {s: n for s, (_, n) in photos.items()},
        "rows": rows,
        "machine": machine_info(),
    }
    m = res["machine"]
    sizes = [f"{a}-{b}" for a, b in SIZES]
    md = [
        f"## Face detection: {res['faces']} faces in {len(scenes)} scenes with known truth, and speed",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only. FER-2013 PublicTest faces pasted into real "
        "backgrounds (24–400 px, ±30°, some covered, blurred or darkened), 800×600 frames; found = IoU ≥ 0.3. "
        "Sanity: faces found in real photos that ship in packages, expected "
        + ", ".join(f"{s.split(':')[1]} {n}" for s, n in res["sanity_expected"].items())
        + ".",
        "",
        "| setting | recall | "
        + " | ".join(f"recall {s} px" for s in sizes)
        + " | false pos. / frame | ms / frame | sanity |",
        "|---|---:|" + "---:|" * len(sizes) + "---:|---:|---|",
    ]
    for r in rows:
        bs = " | ".join("—" if r["recall_by_side_px"][s] is None else f"{r['recall_by_side_px'][s]:.2f}" for s in sizes)
        sanity = ", ".join(str(v) for v in r["sanity_faces_found"].values())
        md.append(
            f"| {r['setting']} | {r['recall']:.3f} | {bs} | {r['false_positives_per_frame']:.3f} | "
            f"{r['ms_per_frame']:.1f} | {sanity} |"
        )
    md += ["", "Reproduce: `python benchmarks/detectors.py`", ""]
    write_results(args.out, "detectors", res, md)


if __name__ == "__main__":
    main()
