#!/usr/bin/env bash
# Reproduces docs/results.md: trains the study's two CNNs on FER-2013 and draws Figures 1, 3, 6, 8.
# Usage: scripts/study_cnn.sh [DATA]   (default ../shared/data/fer2013-no-private.zip)
# Set SKIP_TRAIN=1 to redraw figures from runs/cnn_v1 and runs/cnn_v2_1 that already exist.
set -euo pipefail
DATA=${1:-../shared/data/fer2013-no-private.zip}
FIG=docs/figures
mkdir -p "$FIG" docs/eval

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  ferlab train --config configs/cnn_v2_1.yaml --data "$DATA" --out runs/cnn_v2_1
  ferlab train --config configs/cnn_v1.yaml --data "$DATA" --out runs/cnn_v1
fi

ferlab data summary "$DATA" --json --plot "$FIG/fig1_class_distribution.png" > docs/eval/data_summary.json
ferlab curves runs/cnn_v1 runs/cnn_v2_1 --out "$FIG/fig3_cnn_loss_curves.png" \
  --title "Figure 3: CNN V1 (8 epochs) vs V2.1 (17 epochs)"
for run in cnn_v1 cnn_v2_1; do
  ferlab evaluate --model "runs/$run" --data "$DATA" --split val --json \
    --plot "$FIG/fig6_confusion_$run.png" --out "docs/eval/${run}_val.json" > /dev/null
  ferlab evaluate --model "runs/$run" --data "$DATA" --split val --tta --json \
    --out "docs/eval/${run}_val_tta.json" > /dev/null
  cp "runs/$run/metrics.csv" "docs/eval/${run}_metrics.csv"
  cp "runs/$run/summary.json" "docs/eval/${run}_summary.json"
done
ferlab compare docs/eval/cnn_v1_val.json docs/eval/cnn_v2_1_val.json --out docs/eval/compare
cp docs/eval/compare/per_class.png "$FIG/fig8_per_class.png"
ferlab bundle runs/cnn_v2_1 --name cnn-v2.1 --data "$DATA"
