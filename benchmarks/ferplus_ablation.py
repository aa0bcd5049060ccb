"""Each real-photo augmentation lever on its own (issue 19): short fine-tunes of the bundled
fer-vgg-wide on FER+ soft labels, identical but for one lever, scored on FER+ PublicTest (majority
protocol) as it is and as a "photo-like" copy (every face degraded once with a fixed seed: blur,
JPEG, noise, low resolution, light, occlusion, each at probability 0.5). One seed per row, said
so in the table: differences under ~1 point are within seed noise at this budget.

Writes benchmarks/results/ferplus_ablation.json and .md.

Usage: python benchmarks/ferplus_ablation.py [--data ZIP] [--limit-train N] [--epochs E]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from ferlab.data import load_fer2013
from ferlab.data.augment import AugmentConfig, degrade_photo
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data
from ferlab.training.config import load_config
from ferlab.training.run import train

OUT = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
BASE = {"hflip": True, "rotate": 15, "translate": 0.12, "scale": [0.85, 1.2], "erase": 0.3}
LEVERS = {
    "none (geometric only)": {},
    "blur": {"blur": 0.5},
    "jpeg": {"jpeg": 0.5},
    "noise": {"noise": 0.5},
    "lowres": {"lowres": 0.5},
    "photometric": {"photometric": 0.5},
    "occlude": {"occlude": 0.3},
    "crop jitter (wider shift/zoom)": {"translate": 0.2, "scale": [0.75, 1.3]},
    "all (the recipe)": {"blur": 0.2, "jpeg": 0.3, "noise": 0.2, "lowres": 0.2, "photometric": 0.4, "occlude": 0.1},
}


def photo_like(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """uint8 (N,48,48) → the same faces degraded once, reproducibly."""
    cfg = AugmentConfig(blur=0.5, jpeg=0.5, noise=0.5, lowres=0.5, photometric=0.5, occlude=0.5)
    g = torch.Generator().manual_seed(seed)
    x = images.float()[:, None] / 255
    y = degrade_photo(x, cfg, lambda *s: torch.rand(*s, generator=g))
    return (y[:, 0] * 255).round().clamp(0, 255).to(torch.uint8)


def accuracy(ref: str, images: torch.Tensor, labels: torch.Tensor) -> float:
    rec = Recognizer(ref, backend="torch", tta="none", calibrated=False)
    probs = torch.cat(
        [torch.from_numpy(rec.probabilities(images[i : i + 512].numpy())) for i in range(0, len(images), 512)]
    )
    return float((probs.argmax(1) == labels).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--limit-train", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--runs", default="/tmp/ferlab-ablation")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    val = load_fer2013(args.data, labels="ferplus-majority").split("val")
    degraded = photo_like(val.images)
    base_cfg = load_config(ROOT / "configs" / "fer_vgg_wide_ferplus.yaml")
    rows = {"bundled fer-vgg-wide (no fine-tune)": {
        "ferplus_val": accuracy("fer-vgg-wide", val.images, val.labels),
        "ferplus_val_photo_like": accuracy("fer-vgg-wide", degraded, val.labels),
        "train_seconds": 0.0,
    }}  # fmt: skip
    print(rows, flush=True)
    for name, lever in LEVERS.items():
        cfg = copy.deepcopy(base_cfg)
        cfg["name"] = "ablation"
        cfg["data"]["path"] = args.data
        cfg["data"]["limit_train"] = args.limit_train
        cfg["train"].update(epochs=args.epochs, budget_minutes=None, warmup_epochs=0, augment={**BASE, **lever})
        run = Path(args.runs) / name.split(" ")[0]
        t = time.perf_counter()
        train(cfg, run, progress=False, command="benchmarks/ferplus_ablation.py")
        secs = time.perf_counter() - t
        rows[name] = {
            "ferplus_val": accuracy(str(run / "best"), val.images, val.labels),
            "ferplus_val_photo_like": accuracy(str(run / "best"), degraded, val.labels),
            "train_seconds": round(secs, 1),
        }
        print(name, rows[name], flush=True)
    res = {"machine": machine_info(), "limit_train": args.limit_train, "epochs": args.epochs, "seed": 0,
           "n_val": len(val), "rows": rows}  # fmt: skip
    md = [
        "## The photo augmentation levers one at a time (FER+ fine-tunes of fer-vgg-wide)",
        "",
        f"FER+ augmentation ablation: fer-vgg-wide fine-tuned on {args.limit_train} FER+ training faces (soft labels), "
        f"{args.epochs} epoch(s), **one seed** (0); FER+ PublicTest, majority protocol, n={len(val)}, torch fp32 one "
        f"pass; photo-like = each face degraded once (fixed seed). {res['machine']['cpu']}, "
        f"{res['machine']['cores']} cores.",
        "",
        "| lever | FER+ PublicTest | photo-like | train s |",
        "|---|---|---|---|",
        *[
            f"| {k} | {v['ferplus_val']:.4f} | {v['ferplus_val_photo_like']:.4f} | {v['train_seconds']:.0f} |"
            for k, v in rows.items()
        ],
        "",
        "Reproduce: `python benchmarks/ferplus_ablation.py`",
        "",
    ]
    write_results(args.out, "ferplus_ablation", res, md)


if __name__ == "__main__":
    main()
