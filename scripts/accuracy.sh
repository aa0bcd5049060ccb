#!/usr/bin/env bash
# Evaluates the bundled-model candidate runs on PublicTest (with and without flip TTA), bundles
# the chosen ones by name, and writes docs/accuracy.md. Usage: scripts/accuracy.sh [DATA]
# CPU runs: `ferlab train --config configs/NAME.yaml --out runs/NAME`; GPU runs: scripts/gpu_train.sh
# (their runs/gpu/NAME folders copied to runs/NAME). A run without weights (a GPU run whose
# weights were not brought back) keeps its training-time PublicTest accuracy from summary.json.
set -euo pipefail
DATA=${1:-../shared/data/fer2013-no-private.zip}
mkdir -p docs/eval
for run in fer_vgg fer_vgg_balanced fer_vgg_wide fer_vgg_wide_mixup fer_vgg_wide_adamw fer_vgg_deep \
           fer_vgg_wide_mixup_alone cnn_v2_1_augmented cnn_v2_1_distilled fer_vgg_wide_distilled; do
  [ -f "runs/$run/summary.json" ] || continue
  cp "runs/$run/summary.json" "docs/eval/${run}_summary.json"
  cp "runs/$run/metrics.csv" "docs/eval/${run}_metrics.csv"
  cp "runs/$run/config.yaml" "docs/eval/${run}_config.yaml"
  [ -f "runs/$run/best/model.safetensors" ] || continue
  # evaluations newer than the weights they measured are kept (REEVALUATE=1 redoes them)
  for tta in none flip; do
    if [ "$tta" = flip ]; then out="docs/eval/${run}_val_tta.json"; else out="docs/eval/${run}_val.json"; fi
    if [ "${REEVALUATE:-0}" = 1 ] || [ ! "$out" -nt "runs/$run/best/model.safetensors" ]; then
      ferlab evaluate --model "runs/$run" --data "$DATA" --tta $tta --json --out "$out" > /dev/null
    fi
  done
done
# Bundles (re)made only where missing, or all with REBUNDLE=1: bundling re-times the model, and
# an unchanged model should not get a new file for a slightly different timing.
# RUN:TTA — the run and the test-time augmentation its bundle ships with (ferlab.tta)
for entry in fer_vgg:none fer_vgg_balanced:none fer_vgg_wide:multi; do
  run=${entry%%:*} tta=${entry##*:}
  name=$(echo "$run" | tr _ -)
  [ -f "runs/$run/best/model.safetensors" ] || continue
  if [ "${REBUNDLE:-0}" = 1 ] || [ ! -f "src/ferlab/weights/$name.safetensors" ]; then
    ferlab bundle "runs/$run" --name "$name" --data "$DATA" --tta-default "$tta"
  fi
done
python3 scripts/accuracy_md.py
echo "docs/accuracy.md written"
