"""The main job end to end — a photo file in, faces and emotions out — ferlab as shipped against
`fer` (FER().detect_emotions: its default Haar detector and Keras mini-Xception on TensorFlow),
on the same photo files in one run: median ms per photo (reading the file included) and faces
found, for one-face and many-face photos; and ferlab's frames/s on a 640×480 video end to end.

Photos: real photos with one face that ship in packages (matplotlib's Grace Hopper, scikit-image's
astronaut and cameraman), FER-2013 PublicTest faces pasted into real backgrounds (1 face at
640×480; 4–8 faces at 1280×960; 1–3 faces at 4032×3024, the size phones save; truth known, so
"found" means IoU ≥ 0.3 with a real face), and a group photo made of Grace Hopper tiled 3×2.

fer runs in its own Python (TensorFlow and fer installed there; see --fer-python):
    python3 -m venv .venv-fer && .venv-fer/bin/pip install tensorflow-cpu "opencv-python-headless<5" pillow \\
        && .venv-fer/bin/pip install --no-deps fer==25.10.3
(--no-deps: fer's own requirements would pull opencv-python over the headless build.)

Writes benchmarks/results/pipeline.json and .md.
Usage: python benchmarks/pipeline.py [--fer-python .venv-fer/bin/python] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ferlab.data import load_fer2013
from ferlab.detectors.base import Detection
from ferlab.evaluation.scenes import backgrounds, make_scene, match, read_rgb
from ferlab.inference.recognizer import Recognizer
from ferlab.inference.video import process_video
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data

OUT = Path(__file__).parent / "results"
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from inference import make_clip  # noqa: E402  (the same 640×480 clip as the inference benchmark)


def make_photos(folder: Path, data: str, n_scenes: int) -> dict[str, list[dict]]:
    """{group: [{path, truth boxes or None, faces expected}]}, written as JPEG (quality 92)."""
    groups: dict[str, list[dict]] = {"one face": [], "many faces": [], "phone-size photos (12 MP)": []}

    def save(group: str, name: str, rgb: np.ndarray, truth: list | None, expected: int) -> None:
        p = folder / f"{name}.jpg"
        cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        groups[group].append({"path": str(p), "truth": truth, "expected": expected})

    for spec in ("matplotlib:grace_hopper.jpg", "skimage:astronaut.png", "skimage:camera.png"):
        if (im := read_rgb(spec)) is not None:
            save("one face", spec.split(":")[1].split(".")[0], im, None, 1)
    hopper = read_rgb("matplotlib:grace_hopper.jpg")
    save("many faces", "hopper_group_3x2", np.vstack([np.hstack([hopper] * 3)] * 2), None, 6)
    val = load_fer2013(data).split("val")
    faces, labels = val.images.numpy(), val.labels.numpy()
    bgs, rng = backgrounds(), np.random.default_rng(11)
    for i in range(n_scenes):
        rgb, truth = make_scene(rng, faces, labels, bgs, size=(640, 480), n_faces=(1, 1), side=(80, 300), max_angle=15)
        save("one face", f"scene1_{i:02d}", rgb, [t.box for t in truth], 1)
        rgb, truth = make_scene(rng, faces, labels, bgs, size=(1280, 960), n_faces=(4, 8), side=(60, 260), max_angle=15)
        save("many faces", f"scenes_{i:02d}", rgb, [t.box for t in truth], len(truth))
    for i in range(max(2, n_scenes // 3)):  # the size phones save: 4032×3024, 1–3 faces
        rgb, truth = make_scene(
            rng, faces, labels, bgs, size=(4032, 3024), n_faces=(1, 3), side=(300, 1200), max_angle=15
        )
        save("phone-size photos (12 MP)", f"phone_{i:02d}", rgb, [t.box for t in truth], len(truth))
    return groups


def found(boxes: list, photo: dict) -> int:
    """Faces found: detections matching a true face where the truth is known, else all detections up to expected."""
    if photo["truth"] is None:
        return min(len(boxes), photo["expected"])
    dets = [Detection(tuple(b), 1.0) for b in boxes]

    class T:
        def __init__(self, box):
            self.box = box

    return len(match(dets, [T(b) for b in photo["truth"]]))


def time_ferlab(recs: dict[str, Recognizer], photos: list[dict], repeats: int) -> dict[str, dict]:
    """{setting: {photo: {ms, boxes}}}; the settings take turns on each photo, so load changes
    hit them alike."""
    for rec in recs.values():
        rec.predict(photos[0]["path"])  # warm-up
    out: dict[str, dict] = {k: {} for k in recs}
    for ph in photos:
        times: dict[str, list[float]] = {k: [] for k in recs}
        faces: dict[str, list] = {}
        for _ in range(repeats):
            for k, rec in recs.items():
                t = time.perf_counter()
                faces[k] = rec.predict(ph["path"])
                times[k].append(time.perf_counter() - t)
        for k in recs:
            out[k][ph["path"]] = {"ms": statistics.median(times[k]) * 1000, "boxes": [list(f.box) for f in faces[k]]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--fer-python", default=str(HERE.parent / ".venv-fer" / "bin" / "python"))
    ap.add_argument("--scenes", type=int, default=10, help="synthetic photos per group")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--fast-side", type=int, default=480, help="also time ferlab searching photos at this side (--search-side)"
    )
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    rec = Recognizer()  # as shipped
    fast = Recognizer(search_side=args.fast_side)
    res = {
        "ferlab": {
            "model": rec.name,
            "backend": rec.backend,
            "precision": rec.precision,
            "tta": rec.tta,
            "detector": rec.detector_name,
        },
        "machine": machine_info(),
        "groups": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        groups = make_photos(Path(tmp), args.data, args.scenes)
        all_photos = [p for g in groups.values() for p in g]
        timed = time_ferlab({"shipped": rec, "fast": fast}, all_photos, args.repeats)
        ours, ours_fast = timed["shipped"], timed["fast"]
        fer = None
        if Path(args.fer_python).exists():
            cmd = [args.fer_python, str(HERE / "fer_worker.py"), "--repeats", str(args.repeats)]
            r = subprocess.run(cmd + [p["path"] for p in all_photos], capture_output=True, text=True, check=False)
            if r.returncode == 0:
                fer = json.loads(r.stdout.strip().splitlines()[-1])
            else:
                res["fer_error"] = r.stderr.strip().splitlines()[-1:] if r.stderr else "failed"
        else:
            res["fer_error"] = f"{args.fer_python} not found (see this script's docstring to install fer)"
        for g, photos in groups.items():
            row = {"photos": len(photos), "faces_expected": sum(p["expected"] for p in photos)}
            for name, timings in (("ferlab", ours), ("ferlab_fast", ours_fast), ("fer", fer)):
                if timings is None:
                    continue
                row[name] = {
                    "ms_per_photo_median": statistics.median(timings[p["path"]]["ms"] for p in photos),
                    "faces_found": sum(found(timings[p["path"]]["boxes"], p) for p in photos),
                    "detections": sum(len(timings[p["path"]]["boxes"]) for p in photos),
                }
            if fer is not None:
                row["speedup"] = row["fer"]["ms_per_photo_median"] / row["ferlab"]["ms_per_photo_median"]
                row["speedup_fast"] = row["fer"]["ms_per_photo_median"] / row["ferlab_fast"]["ms_per_photo_median"]
            res["groups"][g] = row
            print(g, json.dumps(row), flush=True)
        clip = make_clip(Path(tmp) / "clip.mp4")
        runs = [process_video(str(clip), Recognizer(tta="none"), progress=False) for _ in range(3)]
        res["video_640x480"] = {"fps": statistics.median(r["fps"] for r in runs), "frames": runs[0]["frames"]}
    m, f = res["machine"], res["ferlab"]
    md = [
        "## The whole pipeline: a photo file in, faces and emotions out — ferlab against fer",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only. ferlab as shipped: {f['detector']} detector, "
        f"alignment, {f['model']} ({f['backend']} {f['precision']}, TTA {f['tta']}). fer 25.10.3: "
        "`FER().detect_emotions` (Haar, Keras mini-Xception on TensorFlow), in its own Python. Same JPEG files, "
        f"median of {args.repeats} runs per photo, reading the file included.",
        "",
        f"Last columns: ferlab with `--search-side {args.fast_side}` (photos searched at {args.fast_side} px "
        "instead of 640: faster, fewer small faces found — `benchmarks/face_size.py`).",
        "",
        "| photos | n | faces | ferlab ms/photo | ferlab faces found | fer ms/photo | fer faces found | speed-up "
        f"| ferlab {args.fast_side} px ms/photo | faces found | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g, r in res["groups"].items():
        fr, fa = r.get("fer"), r["ferlab_fast"]
        theirs = (
            f"{fr['ms_per_photo_median']:.1f} | {fr['faces_found']} | {r['speedup']:.1f}× |" if fr else "— | — | — |"
        )
        fast_up = f"{r['speedup_fast']:.1f}×" if fr else "—"
        md.append(
            f"| {g} | {r['photos']} | {r['faces_expected']} | {r['ferlab']['ms_per_photo_median']:.1f} | "
            f"{r['ferlab']['faces_found']} | {theirs} {fa['ms_per_photo_median']:.1f} | {fa['faces_found']} | "
            f"{fast_up} |"
        )
    md += [
        "",
        f"Video, 640×480, end to end (decode, detect at 320 px, align, classify one pass, track): "
        f"{res['video_640x480']['fps']:.1f} frames/s.",
        "",
        *([f"fer not run: {res['fer_error']}", ""] if "fer_error" in res else []),
        "Reproduce: `python benchmarks/pipeline.py`",
        "",
    ]
    write_results(args.out, "pipeline", res, md)


if __name__ == "__main__":
    main()
