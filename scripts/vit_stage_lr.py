"""The learning rate of the unfrozen blocks, checked again (issue 28): the study chose 1e-4 for a ViT
fine-tuned whole; `configs/vit_cpu_stages.yaml` trains its unfrozen blocks at 2e-5 under a 1e-4 head.

One run of the config's first stage (head only, epochs 1-3, exactly as the config runs it), then its
second stage (blocks 11-12 join) started from those weights once per backbone learning rate, for
`--epochs` epochs, everything else as the config. The config's third stage ({2: 4} below, blocks 9-12)
lies past those epochs and never starts: it stays in the schedule so every run reads the same cache
of blocks 1-8 that `vit_cpu_stages` built. Selected on PublicTest, as every run of the study here.

    python scripts/vit_stage_lr.py --out runs/vit_stage_lr   # about 35 min on 2 idle cores
        # writes runs/vit_stage_lr/{vit_stage_lr.json,vit_stage_lr.md} (copied to docs/eval/)

Runs finished before are reused and a killed run continues (`run_or_reuse`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import median

from ferlab.errors import FerlabError
from ferlab.io import atomic_write_json, atomic_write_text
from ferlab.measure import machine_info
from ferlab.run_dir import RunDir
from ferlab.training.config import load_config
from ferlab.training.sweep import run_or_reuse

CONFIG = "vit_cpu_stages"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/vit_stage_lr"))
    ap.add_argument("--data", help="FER-2013 (default: $FERLAB_DATA or ../shared/data)")
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-4, 2e-5, 5e-6], help="backbone learning rates")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the second stage per learning rate")
    ap.add_argument("--limit-train", type=int, help="a class-stratified subset (a quick check of the script)")
    ap.add_argument("--limit-val", type=int)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)

    base = {"data.path": a.data, "data.limit_train": a.limit_train, "data.limit_val": a.limit_val}
    base = {k: v for k, v in base.items() if v is not None}
    cmd = "python scripts/vit_stage_lr.py"
    # the config's own first stage, cut where its second begins
    head_cfg = load_config(CONFIG, {**base, "train.epochs": 3})
    head = run_or_reuse(head_cfg, a.out / "stage1_head", progress=not a.no_progress, command=cmd)
    rows = []
    for lr in a.lr:
        cfg = load_config(
            CONFIG,
            {
                **base,
                "train.epochs": a.epochs,
                "train.backbone_lr": lr,
                "train.freeze": {"start": 2, "schedule": {2: 4}},
                "train.init_from": str(head / "last"),
            },
        )
        cfg["name"] = f"{CONFIG}_stage2_blr{lr:g}"
        run = RunDir(run_or_reuse(cfg, a.out / f"stage2_blr{lr:g}", progress=not a.no_progress, command=cmd))
        m, s = run.metrics(), run.summary()
        rows.append(
            {
                "backbone_lr": lr,
                "head_lr": cfg["train"]["lr"],
                "val_acc": [round(r["val_acc"], 4) for r in m],
                "val_loss": [round(r["val_loss"], 4) for r in m],
                "train_acc": [round(r["train_acc"], 4) for r in m],
                "best_val_acc": round(s["best"]["val_acc"], 4),
                "seconds_per_epoch": round(median(r["train_seconds"] for r in m), 1),
            }
        )
    h = RunDir(head).metrics()
    result = {
        "config": CONFIG,
        "stage1_val_acc": [round(r["val_acc"], 4) for r in h],
        "stage2_epochs": a.epochs,
        "limit_train": a.limit_train,
        "runs": rows,
        "machine": machine_info(),
        "command": " ".join([cmd, *(argv if argv is not None else sys.argv[1:])]),
    }
    atomic_write_json(a.out / "vit_stage_lr.json", result)
    lines = [
        f"Stage 2 of `{CONFIG}` (blocks 11-12 join) from its stage 1 (head only, PublicTest "
        + ", ".join(f"{x:.4f}" for x in result["stage1_val_acc"])
        + f"), {a.epochs} epochs per backbone learning rate; head lr {rows[0]['head_lr']:g}. "
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores.",
        "",
        "| backbone lr | PublicTest by epoch | val loss by epoch | train acc by epoch | s/epoch |",
        "|---:|---|---|---|---:|",
        *(
            f"| {r['backbone_lr']:g} | {', '.join(f'{x:.4f}' for x in r['val_acc'])} | "
            f"{', '.join(f'{x:.4f}' for x in r['val_loss'])} | {', '.join(f'{x:.4f}' for x in r['train_acc'])} | "
            f"{r['seconds_per_epoch']:.0f} |"
            for r in rows
        ),
        "",
    ]
    atomic_write_text(a.out / "vit_stage_lr.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FerlabError as e:
        sys.exit(f"error: {e}")
