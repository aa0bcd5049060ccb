#!/usr/bin/env bash
# Evaluates the bundled-model candidate runs on PublicTest (with and without flip TTA), bundles
# them by name, and writes docs/accuracy.md. Usage: scripts/accuracy.sh [DATA]
set -euo pipefail
DATA=${1:-../shared/data/fer2013-no-private.zip}
mkdir -p docs/eval
for run in fer_vgg fer_vgg_balanced; do
  [ -f "runs/$run/summary.json" ] || continue
  ferlab evaluate --model "runs/$run" --data "$DATA" --json --out "docs/eval/${run}_val.json" > /dev/null
  ferlab evaluate --model "runs/$run" --data "$DATA" --tta --json --out "docs/eval/${run}_val_tta.json" > /dev/null
  cp "runs/$run/summary.json" "docs/eval/${run}_summary.json"
  cp "runs/$run/metrics.csv" "docs/eval/${run}_metrics.csv"
  ferlab bundle "runs/$run" --name "$(echo "$run" | tr _ -)" --data "$DATA"
done
python3 scripts/accuracy_md.py
echo "docs/accuracy.md written"
