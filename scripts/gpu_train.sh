#!/usr/bin/env bash
# Train the bundled-model candidates side by side on one GPU within a wall-clock budget.
#
#   DATA=path/to/fer2013.zip BUDGET=7 OUT=out/ bash scripts/gpu_train.sh
#
# Four configs (the recipe and three one-lever ablations) train at once: one small CNN leaves
# most of a large GPU idle, so four processes share it. Each fits its epoch count to BUDGET
# minutes after two epochs (train.budget_minutes) and writes the count into its config.yaml;
# rerunning that config.yaml repeats the schedule on any machine. Runs go to runs/gpu/.
# Into $OUT go the logs, metrics and cards of every run (meta.tar.gz) and the best-epoch
# weights of the TOP (default 3) runs by PublicTest accuracy, split in 15 MB parts
# (join with `cat NAME.safetensors.part-* > model.safetensors`).
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013-no-private.zip}
BUDGET=${BUDGET:-7}
TOP=${TOP:-3}
OUT=${OUT:-out/gpu}
CONFIGS=${CONFIGS:-"fer_vgg_wide fer_vgg_deep fer_vgg_wide_adamw fer_vgg_wide_mixup"}
export PYTHONUNBUFFERED=1 FERLAB_CACHE=${FERLAB_CACHE:-/tmp/ferlab-cache}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
EXTRA=${EXTRA:-}  # more `ferlab train` arguments, e.g. for a smoke test
mkdir -p runs/gpu "$OUT"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee runs/gpu/gpu.txt || true
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" | tee -a runs/gpu/gpu.txt
# Decode the images once; every run then loads the cached arrays.
$PY -c "from ferlab.data.fer2013 import load_fer2013; d = load_fer2013('$DATA'); print({k: len(v) for k, v in d.splits.items()})"

(nvidia-smi dmon -s u -d 10 > runs/gpu/dmon.log 2>&1 &) || true
threads=$(( $(nproc) / $(echo $CONFIGS | wc -w) ))
start=$(date +%s)
for c in $CONFIGS; do
  $PY -m ferlab.cli train --config "configs/$c.yaml" --data "$DATA" --out "runs/gpu/$c" \
    --budget-minutes "$BUDGET" --max-minutes "$($PY -c "print($BUDGET + 0.6)")" \
    --precision bf16-mixed --set train.deterministic=false --threads "$threads" --no-progress $EXTRA \
    > "runs/gpu/$c.log" 2>&1 &
done
wait || true
echo "training wall time: $(( $(date +%s) - start )) s"
for c in $CONFIGS; do grep -E "budget|^run |rror" "runs/gpu/$c.log" || tail -3 "runs/gpu/$c.log"; done

# The TOP runs by best PublicTest accuracy bring their weights back.
top=$($PY - "$TOP" $CONFIGS <<'EOF'
import json, sys
top, names = int(sys.argv[1]), sys.argv[2:]
scores = []
for n in names:
    try:
        s = json.load(open(f"runs/gpu/{n}/summary.json"))
        scores.append((s["best"]["val_acc"], n))
        print(f"{n}: best val_acc {s['best']['val_acc']:.4f} at epoch {s['best']['epoch']}"
              f" of {s['epochs_completed']}/{s['epochs_planned']}", file=sys.stderr)
    except (OSError, KeyError, TypeError):
        print(f"{n}: no summary", file=sys.stderr)
print(" ".join(n for _, n in sorted(scores, reverse=True)[:top]))
EOF
)
tar czf "$OUT/meta.tar.gz" runs/gpu/*.log runs/gpu/*.txt \
  $(ls -d runs/gpu/*/{config.yaml,metrics.csv,summary.json,loss_curves.png,best/card.json} 2>/dev/null)
for c in $top; do split -b 15M "runs/gpu/$c/best/model.safetensors" "$OUT/$c.safetensors.part-"; done
ls -la "$OUT"
