"""Inference speed of the bundled default (and cnn-v2.1, the fast one) on this machine: per-face
model latency (batch 1 and 64, torch and onnxruntime) and end-to-end frames/s on a 640×480 video with face detection.

Writes benchmarks/results/inference.json and .md. Medians over repeats; one process.
Usage: python benchmarks/inference.py [--models NAME_OR_PATH ...] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image

from ferlab.card import shipped_tta
from ferlab.inference.recognizer import Recognizer
from ferlab.inference.video import process_video
from ferlab.measure import machine_info, write_results

OUT = Path(__file__).parent / "results"
PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def per_face_ms(rec: Recognizer, batch: int, repeats: int) -> float:
    faces = np.random.default_rng(0).integers(0, 256, (batch, 48, 48), dtype=np.uint8)
    for _ in range(10):
        rec.probabilities(faces)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rec.probabilities(faces)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000 / batch


def make_clip(path: Path, frames: int = 90) -> Path:
    """640×480, 30 fps, one face drifting across the frame (a webcam-like scene)."""
    face = cv2.resize(np.asarray(Image.open(PHOTO).convert("RGB"))[:, :, ::-1], (240, 282))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    for i in range(frames):
        frame = np.full((480, 640, 3), 90, np.uint8)
        x = 60 + (i * 3) % 300
        frame[100:382, x : x + 240] = face
        w.write(frame)
    w.release()
    return path


def measure(model: str | None, repeats: int, video_repeats: int, clip: Path) -> dict:
    # One pass per face, as `ferlab video` runs; the card's own TTA (photos) is timed beside it.
    recs = {b: Recognizer(model, backend=b, tta="none") for b in ("torch", "onnxruntime")}
    latency = {
        b: {bs: per_face_ms(r, bs, repeats if bs == 1 else max(20, repeats // 10)) for bs in (1, 64)}
        for b, r in recs.items()
    }
    shipped = shipped_tta(recs["torch"].card)
    shipped_ms = None
    if shipped != "none":
        shipped_ms = {b: per_face_ms(Recognizer(model, backend=b, tta=shipped), 1, repeats) for b in recs}
    video = {}
    for b, r in recs.items():
        runs = [process_video(str(clip), r, progress=False) for _ in range(video_repeats)]
        video[b] = {
            "fps": statistics.median(x["fps"] for x in runs),
            "frames": runs[0]["frames"],
            "face_rows": runs[0]["rows"],
        }
    det_times = []
    rgb = np.asarray(Image.open(PHOTO).convert("RGB").resize((640, 480)))
    for _ in range(30):
        t = time.perf_counter()
        recs["torch"].detector.detect(rgb)
        det_times.append(time.perf_counter() - t)
    card = recs["torch"].card
    return {
        "model": card["name"],
        "parameters": card.get("parameters"),
        "latency_ms_per_face": {b: {str(k): v for k, v in d.items()} for b, d in latency.items()},
        "tta_shipped": shipped,
        "latency_ms_per_face_shipped_tta_batch1": shipped_ms,
        "detector_ms_640x480": statistics.median(det_times) * 1000,
        "video_640x480": video,
    }


def main() -> None:
    from ferlab.card import DEFAULT_MODEL

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, "cnn-v2.1"], help="default: the bundled default")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--video-repeats", type=int, default=3)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    models = list(dict.fromkeys(args.models))
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4")
        results = [measure(m, args.repeats, args.video_repeats, clip) for m in models]
    res = {"models": results, "goals": {"ms_per_face": 2.0, "fps": 30.0}, "machine": machine_info()}
    m = res["machine"]
    head = " | ".join(f"{r['model']} torch | {r['model']} onnxruntime" for r in results)
    md = [
        "# Inference speed: " + ", ".join(f"{r['model']} ({r['parameters']:,} parameters)" for r in results),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, CPU only. Medians. "
        f"The bundled default is `{DEFAULT_MODEL}`.",
        "",
        f"| measure | {head} | goal |",
        "|---|" + "---:|" * (2 * len(results)) + "---:|",
    ]

    def row(label: str, get, goal: str) -> str:
        vals = " | ".join(get(r, b) for r in results for b in ("torch", "onnxruntime"))
        return f"| {label} | {vals} | {goal} |"

    md += [
        row("model, ms per face, batch 1", lambda r, b: f"{r['latency_ms_per_face'][b]['1']:.3f}", "≤ 2"),
        row("model, ms per face, batch 64", lambda r, b: f"{r['latency_ms_per_face'][b]['64']:.3f}", "≤ 2"),
        *(
            [
                row(
                    "model with the card's TTA (photos), ms per face, batch 1",
                    lambda r, b: (
                        f"{r['latency_ms_per_face_shipped_tta_batch1'][b]:.3f} ({r['tta_shipped']})"
                        if r["latency_ms_per_face_shipped_tta_batch1"]
                        else "— (none)"
                    ),
                    "",
                )
            ]
            if any(r["latency_ms_per_face_shipped_tta_batch1"] for r in results)
            else []
        ),
        row(
            "end to end, 640×480 video with the default detector (CenterFace int8, 320 px), frames/s",
            lambda r, b: f"{r['video_640x480'][b]['fps']:.1f}",
            "≥ 30",
        ),
        "",
        "Model rows time one pass per face, as `ferlab video` classifies (`--tta` adds passes). "
        "Video frames are searched at 320 px on the longer side (`ferlab video --search-side`). Photos are searched "
        f"at 640 px: the detector alone on a 640×480 photo takes {results[0]['detector_ms_640x480']:.1f} ms, "
        "which bounds `ferlab predict` and `ferlab serve` throughput. The onnxruntime columns run each model as "
        "its card ships it (the default: int8).",
        "",
        "Reproduce: `python benchmarks/inference.py`",
        "",
    ]
    write_results(args.out, "inference", res, md)


if __name__ == "__main__":
    main()
