"""Test-time levers on PublicTest, for the ablation in docs/accuracy.md: each model alone, with
flip averaging, with multi-view averaging (flip × shifts of 2 px, and a 1.1× zoom), and the soft
vote of all models given. Counts the forward passes each costs per face.

Writes benchmarks/results/tta_ensemble.json and .md.
Usage: python benchmarks/tta_ensemble.py --models runs/fer_vgg_wide runs/fer_vgg_wide_mixup ... [--data ZIP]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ferlab.checkpoint import load_model
from ferlab.data import load_fer2013
from ferlab.evaluation.metrics import compute_metrics
from ferlab.preprocess import to_model_input
from ferlab.training.machine import machine_info

OUT = Path(__file__).parent / "results"
# name → (dx, dy) in pixels, zoom; each is also taken mirrored
VIEWS = {
    "id": (0, 0, 1.0),
    "right2": (2, 0, 1.0),
    "left2": (-2, 0, 1.0),
    "up2": (0, -2, 1.0),
    "down2": (0, 2, 1.0),
    "zoom1.1": (0, 0, 1.1),
}


def view(x: torch.Tensor, dx: float, dy: float, zoom: float) -> torch.Tensor:
    if (dx, dy, zoom) == (0, 0, 1.0):
        return x
    n, side = x.shape[0], x.shape[-1]
    theta = torch.tensor([[1 / zoom, 0, -2 * dx / side], [0, 1 / zoom, -2 * dy / side]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@torch.inference_mode()
def view_probs(model, card, images: torch.Tensor, views: dict) -> dict[str, torch.Tensor]:
    x = to_model_input(images, card["input"]["mean"], card["input"]["std"])
    out = {}
    for name, (dx, dy, zoom) in views.items():
        v = view(x, dx, dy, zoom)
        for flip in (False, True):
            xs = v.flip(-1) if flip else v
            out[name + ("+flip" if flip else "")] = torch.cat(
                [
                    model(xs[i : i + 512].contiguous(memory_format=torch.channels_last)).float().softmax(1)
                    for i in range(0, len(xs), 512)
                ]
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", required=True, help="run dirs, checkpoints or bundled names")
    ap.add_argument("--data", default="../shared/data/fer2013-no-private.zip")
    ap.add_argument("--multi-view", nargs="*", default=None, help="models to score multi-view (default: first)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    val = load_fer2013(args.data).split("val")
    multi = set(args.multi_view if args.multi_view is not None else args.models[:1])
    rows, flips, plains, params = [], [], [], 0
    for ref in args.models:
        model, card = load_model(ref)
        params += card["parameters"]
        views = VIEWS if ref in multi else {"id": VIEWS["id"]}
        p = view_probs(model, card, val.images, views)
        plains.append(p["id"])
        flips.append((p["id"] + p["id+flip"]) / 2)
        choices = [("alone", ["id"]), ("flip", ["id", "id+flip"])]
        if ref in multi:
            choices += [
                ("flip × 4 shifts (10 views)", [k for k in p if not k.startswith("zoom")]),
                ("flip × 4 shifts + zoom (12 views)", list(p)),
            ]
        for label, keys in choices:
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
    if len(args.models) > 1:
        for label, probs in (("soft vote", plains), ("soft vote, each with flip", flips)):
            m = compute_metrics(sum(probs) / len(probs), val.labels)
            k = len(args.models)
            rows.append(
                {
                    "model": f"ensemble of {k}",
                    "ref": " + ".join(args.models),
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
        f"FER-2013 PublicTest, n={len(val)}; `python benchmarks/tta_ensemble.py --models {' '.join(args.models)}`.",
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
