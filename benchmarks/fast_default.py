"""The levers for a fast default, in one table: the bundled default's PublicTest accuracy and its
model cost per face (batch 1, all views, this CPU) under onnxruntime fp32 and int8 and every
test-time augmentation mode; and how the two-view pair `zoomflip` was chosen — every pair of the
face with one of the other eleven `multi` views, picked on one seeded stratified half of PublicTest
and reported on the other half. Calibration off (the temperature never changes the class).

Scored against the labels the model's card was measured on (`metrics.labels`: FER-2013's own for
fer-vgg-wide, the FER+ majority for fer-vgg-wide-ferplus) unless `--labels` says otherwise.
Writes benchmarks/results/fast_default-MODEL.json and .md; --write-card stores the timings measured here
(run it on an idle machine) in the bundled card: the shipped configuration's ms per face, and the
torch fp32 one-pass latency at batch 1 and 64.
Usage: python benchmarks/fast_default.py [--model NAME] [--data ZIP] [--labels original|ferplus-majority] [--write-card]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ferlab.card import DEFAULT_MODEL
from ferlab.data import load_fer2013
from ferlab.data.fer2013 import stratified_subset
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, median_ms, write_results
from ferlab.paths import default_data
from ferlab.preprocess import to_model_input_np
from ferlab.runtime.onnx import OnnxSession
from ferlab.tta import PASSES, TTA_MODES, WARPS, views_np

OUT = Path(__file__).parent / "results"


def view_names() -> list[str]:
    return [f"shift ({dx},{dy}), zoom {z:g}{', mirrored' if m else ''}" for dx, dy, z in WARPS for m in (0, 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--labels", choices=["original", "ferplus-majority"], help="default: the card's metrics.labels")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--write-card", action="store_true", help="store the timings in the bundled model's card")
    args = ap.parse_args()
    from ferlab.card import read_card

    labels = args.labels or read_card(args.model)["metrics"].get("labels", "original")
    val = load_fer2013(args.data, labels=labels).split("val")
    faces, y = val.images.numpy(), val.labels.numpy()
    rows, per_view = [], None
    for precision in ("fp32", "int8"):
        for mode in TTA_MODES:
            rec = Recognizer(args.model, backend="onnxruntime", precision=precision, tta=mode, calibrated=False)
            probs = np.concatenate([rec.probabilities(faces[i : i + 128]) for i in range(0, len(faces), 128)])
            rows.append(
                {
                    "backend": "onnxruntime",
                    "precision": precision,
                    "tta": mode,
                    "views": PASSES[mode],
                    "accuracy": float((probs.argmax(1) == y).mean()),
                    "ms_per_face_batch1": median_ms(rec.probabilities, faces[:1], repeats=200, warmup=20),
                }
            )
            print(rows[-1], flush=True)
        if precision == "int8":  # every view's probabilities, for choosing a pair
            card = rec.card
            session = OnnxSession(Path(card["_path"]).parent / card["inference"]["onnx_int8"])
            x = to_model_input_np(faces, card["input"]["mean"], card["input"]["std"])
            per_view = np.concatenate(
                [
                    np.stack([session.probs(np.ascontiguousarray(v)) for v in views_np(x[i : i + 128], "multi")], 0)
                    for i in range(0, len(x), 128)
                ],
                axis=1,
            )
    torch_rec = Recognizer(args.model, backend="torch", tta="none", calibrated=False)
    torch_ms = {
        bs: median_ms(torch_rec.probabilities, faces[:bs], repeats=100 if bs == 1 else 20, warmup=5) / bs
        for bs in (1, 64)
    }
    half_a = stratified_subset(y, len(y) // 2, seed=0)
    half_b = np.setdiff1d(np.arange(len(y)), half_a)
    acc = lambda p, idx: float((p[idx].argmax(1) == y[idx]).mean())
    pairs = []
    for j, name in list(enumerate(view_names()))[1:]:
        p = per_view[[0, j]].mean(0)
        pairs.append(
            {"second view": name, "half A": acc(p, half_a), "half B": acc(p, half_b), "all": acc(p, np.arange(len(y)))}
        )
    pairs.sort(key=lambda r: -r["half A"])
    single = per_view[0]
    res = {
        "model": args.model,
        "labels": labels,
        "n": len(y),
        "rows": rows,
        "pairs": pairs,
        "one_view": {"half A": acc(single, half_a), "half B": acc(single, half_b)},
        "torch_fp32_one_pass_ms_per_face": {str(k): v for k, v in torch_ms.items()},
        "machine": machine_info(),
    }
    m = res["machine"]
    md = [
        f"## A fast default: `{args.model}` under onnxruntime fp32 and int8, every TTA mode "
        f"(PublicTest, {'FER-2013 labels' if labels == 'original' else 'FER+ majority labels'}, n={len(y)})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only. Model time per face, batch 1, all views, median of 200.",
        "",
        "| precision | TTA | views | accuracy | ms / face |",
        "|---|---|---:|---:|---:|",
    ]
    md += [
        f"| {r['precision']} | {r['tta']} | {r['views']} | {r['accuracy']:.4f} | {r['ms_per_face_batch1']:.2f} |"
        for r in rows
    ]
    md += [
        "",
        "Choosing the second view (int8): each pair of the face with one other `multi` view, ranked on half A "
        "(a seeded class-stratified half of PublicTest), reported on half B. One view alone: "
        f"{res['one_view']['half A']:.4f} (A), {res['one_view']['half B']:.4f} (B).",
        "",
        "| second view | half A | half B | all |",
        "|---|---:|---:|---:|",
    ]
    md += [f"| {r['second view']} | {r['half A']:.4f} | {r['half B']:.4f} | {r['all']:.4f} |" for r in pairs]
    md += [
        "",
        f"For comparison, torch fp32, one pass: {torch_ms[1]:.2f} ms per face at batch 1, "
        f"{torch_ms[64]:.2f} at batch 64.",
        "",
        f"Reproduce: `python benchmarks/fast_default.py --model {args.model}`",
        "",
    ]
    write_results(args.out, f"fast_default-{args.model}", res, md)
    if args.write_card:
        from ferlab.weights_bundle import add_card_metrics

        card = read_card(args.model)
        inf = card["inference"]
        row = next(
            r for r in rows if r["precision"] == inf.get("precision", "fp32") and r["tta"] == inf.get("tta", "none")
        )
        shipped = {**card["metrics"]["shipped"], "ms_per_face_batch1": round(row["ms_per_face_batch1"], 3)}
        shipped["machine"] = res["machine"]
        add_card_metrics(
            args.model,
            {
                "shipped": shipped,
                "latency_ms_per_face_batch1": round(torch_ms[1], 3),
                "latency_ms_per_face_batch64": round(torch_ms[64], 3),
                "latency_machine": res["machine"],
            },
        )
        print(f"card of {args.model}: timings written")


if __name__ == "__main__":
    main()
