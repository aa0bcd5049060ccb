"""Test-time levers on PublicTest, for the ablation in docs/accuracy.md: each model alone, with
flip averaging, with multi-view averaging (flip × shifts of 2 px, and a 1.1× zoom), and the soft
vote of all models given. Counts the forward passes each costs per face.

Writes benchmarks/results/tta_ensemble.json and .md.
Usage: python benchmarks/tta_ensemble.py --models runs/fer_vgg_wide runs/fer_vgg_wide_mixup ... [--data ZIP]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ferlab.checkpoint import load_model
from ferlab.data import load_fer2013
from ferlab.evaluation.metrics import compute_metrics, model_probs
from ferlab.measure import machine_info
from ferlab.paths import default_data
from ferlab.preprocess import to_model_input
from ferlab.tta import PASSES, views

OUT = Path(__file__).parent / "results"


@torch.inference_mode()
def view_probs(model, card, images: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Probabilities for each of the TTA mode's views (ferlab.tta), in its order."""
    x = to_model_input(images, card["input"]["mean"], card["input"]["std"])
    per_view: list[list[torch.Tensor]] = [[] for _ in range(PASSES[mode])]
    for i in range(0, len(x), 512):
        for j, v in enumerate(views(x[i : i + 512], mode)):
            per_view[j].append(model_probs(model, v))
    return [torch.cat(p) for p in per_view]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", required=True, help="run dirs, checkpoints or bundled names")
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--multi-view", nargs="*", default=None, help="models to score multi-view (default: first)")
    ap.add_argument("--vote", nargs="*", default=None, help="models in the soft-vote ensemble (default: all)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    val = load_fer2013(args.data).split("val")
    multi = set(args.multi_view if args.multi_view is not None else args.models[:1])
    vote = list(args.vote if args.vote is not None else args.models)
    rows, flips, plains, params = [], [], [], 0
    for ref in args.models:
        model, card = load_model(ref)
        # views come in pairs (view, mirrored): the face, 4 shifts of 2 px, a 1.1× zoom
        p = view_probs(model, card, val.images, "multi" if ref in multi else "flip")
        if ref in vote:
            params += card["parameters"]
            plains.append(p[0])
            flips.append((p[0] + p[1]) / 2)
        choices = [("alone", 1), ("flip", 2)]
        if ref in multi:
            choices += [("flip × 4 shifts (10 views)", 10), ("flip × 4 shifts + zoom (12 views, --tta multi)", 12)]
        for label, n_views in choices:
            keys = range(n_views)
            m = compute_metrics(sum(p[k] for k in keys) / len(keys), val.labels)
            rows.append(
                {
                    "model": card.get("name", ref),
                    "ref": ref,
                    "test_time": label,
                    "passes": len(keys),
                    "parameters": card["parameters"],
                    "accuracy": m["accuracy"],
                    "macro_f1": m["macro_f1"],
                }
            )
            print(f"{ref:40s} {label:36s} {m['accuracy']:.4f}", flush=True)
    if len(vote) > 1:
        for label, probs in (("soft vote", plains), ("soft vote, each with flip", flips)):
            m = compute_metrics(sum(probs) / len(probs), val.labels)
            k = len(vote)
            rows.append(
                {
                    "model": f"ensemble of {k}",
                    "ref": " + ".join(vote),
                    "test_time": label,
                    "passes": k * (2 if "flip" in label else 1),
                    "parameters": params,
                    "accuracy": m["accuracy"],
                    "macro_f1": m["macro_f1"],
                }
            )
            print(f"ensemble of {k:<28d} {label:36s} {m['accuracy']:.4f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"data": args.data, "split": "val (PublicTest)", "n": len(val), "rows": rows, "machine": machine_info()}
    (out / "tta_ensemble.json").write_text(json.dumps(res, indent=2))
    lines = [
        "# Test-time levers: multi-view averaging and ensembles (PublicTest)",
        "",
        f"FER-2013 PublicTest, n={len(val)}; `python benchmarks/tta_ensemble.py {' '.join(sys.argv[1:])}`.",
        "Views are warps of the 48×48 face (2-px shifts, 1.1× zoom; reflection padding), each also mirrored.",
        "",
        "| model | test time | forward passes per face | parameters | accuracy | macro F1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['test_time']} | {r['passes']} | {r['parameters']:,} | {r['accuracy']:.4f} | "
            f"{r['macro_f1']:.4f} |"
        )
    (out / "tta_ensemble.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
