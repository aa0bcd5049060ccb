#!/usr/bin/env bash
# Evaluates the bundled-model candidate runs on PublicTest, bundles the best as the default, and
# writes docs/accuracy.md. Usage: scripts/accuracy.sh [DATA]
set -euo pipefail
DATA=${1:-../shared/data/fer2013-no-private.zip}
mkdir -p docs/eval
ferlab evaluate --model runs/fer_vgg --data "$DATA" --json --out docs/eval/fer_vgg_val.json > /dev/null
ferlab evaluate --model runs/fer_vgg --data "$DATA" --tta --json --out docs/eval/fer_vgg_val_tta.json > /dev/null
cp runs/fer_vgg/summary.json docs/eval/fer_vgg_summary.json
cp runs/fer_vgg/metrics.csv docs/eval/fer_vgg_metrics.csv
ferlab bundle runs/fer_vgg --name fer-vgg --data "$DATA"
python3 scripts/accuracy_md.py
echo "docs/accuracy.md written"
