"""Int8 networks on int8 kernels or on fp32 kernels (ferlab.runtime.cpu), on one machine in one run:
the shipped default and CenterFace, ms per face (batch 1, the card's views) and per 640×480 photo,
and how many labels change between the two over FER-2013 PublicTest (all 3,589 faces).

Without integer dot-product instructions (AVX2-only CPUs) onnxruntime's int8 kernels are no faster
than fp32; there ferlab runs the same int8 file on fp32 kernels. This measures what that costs or
saves here, and that the labels stay the int8 model's.

Usage: python benchmarks/cpu_kernels.py [--model NAME] [--repeats 200]
Writes benchmarks/results/cpu_kernels.json and .md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ferlab.card import DEFAULT_MODEL
from ferlab.data import load_fer2013
from ferlab.evaluation.evaluate import recognizer_probs
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data
from ferlab.runtime.cpu import cpu_flags, int8_kernels
from ferlab.tta import PASSES

OUT = Path(__file__).parent / "results"
PHOTO = Path(__file__).resolve().parents[1] / "src" / "ferlab" / "samples" / "grace_hopper.jpg"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def flops_per_view(model: str) -> int:
    """Floating-point operations of one forward pass of one face (multiply and add counted apart), by
    PyTorch's own counter: the work a CPU without fast int8 kernels does per view in fp32."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ferlab.checkpoint import load_model

    net, _ = load_model(model)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net(torch.zeros(1, 1, 48, 48))
    return int(counter.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    faces = np.asarray(load_fer2013(args.data).split("val").images)
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((640, 480)))
    rows, probs = {}, {}
    for kernels in ("1", "0"):
        os.environ["FERLAB_INT8_KERNELS"] = kernels
        rec = Recognizer(args.model)
        one = faces[:1]
        name = "int8 kernels" if kernels == "1" else "fp32 kernels"
        probs[name] = recognizer_probs(rec, faces)
        rows[name] = {
            "runs_on": rec.runs_on,
            "ms_per_face_batch1": median_ms(lambda rec=rec, one=one: rec.probabilities(one), args.repeats),
            "ms_per_photo": median_ms(lambda rec=rec: rec.run(photo), max(20, args.repeats // 10)),
        }
    os.environ.pop("FERLAB_INT8_KERNELS")
    a, b = (p.argmax(1) for p in probs.values())
    changed = int((a != b).sum())
    results = {
        "machine": machine_info(),
        "int8_dot_product": bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}),
        "chosen_here": "int8 kernels" if int8_kernels() else "fp32 kernels",
        "model": args.model,
        "rows": rows,
        "labels_changed": changed,
        "flops_per_view": flops_per_view(args.model),
        "views": rec.tta,
        "faces": len(faces),
        "max_prob_difference": float(np.abs(probs["int8 kernels"] - probs["fp32 kernels"]).max()),
    }
    md = [
        "### Int8 networks on int8 or fp32 kernels (`python benchmarks/cpu_kernels.py`)",
        "",
        f"{results['machine']['cpu']}, {results['machine']['cores']} cores; integer dot products: "
        f"{'yes' if results['int8_dot_product'] else 'no'} (ferlab chooses {results['chosen_here']} here). "
        f"{args.model} as shipped; the detector is CenterFace: its int8 copy with int8 kernels, the fp32 network "
        "as published without.",
        "",
        "| kernels | runs as | ms per face (batch 1, the card's views) | ms per 640×480 photo, whole pipeline |",
        "|---|---|---:|---:|",
        *(
            f"| {k} | {r['runs_on']} | {r['ms_per_face_batch1']:.2f} | {r['ms_per_photo']:.1f} |"
            for k, r in rows.items()
        ),
        "",
        f"Labels that differ between the two over FER-2013 PublicTest: {changed} of {len(faces)} "
        f"(largest probability difference {results['max_prob_difference']:.4f}).",
        "",
        f"Work per face: {results['flops_per_view'] / 1e6:.0f} MFLOP per view (PyTorch's counter), "
        f"{PASSES[rec.tta]} views as shipped (TTA {rec.tta}).",
    ]
    write_results(OUT, "cpu_kernels", results, md)


if __name__ == "__main__":
    main()
