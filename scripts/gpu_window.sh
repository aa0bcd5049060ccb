#!/usr/bin/env bash
# One prepared script for a lent GPU window (issue 14): started once on the GPU machine, it
#   1. checks the environment (GPU, bf16, data, the DINOv2 folder) and prints its time plan,
#   2. trains the bundled model's recipe (configs/fer_vgg_wide.yaml, 300 epochs as the ceiling) with
#      SEEDS side by side on the device-resident path (--on-device, bf16), each fitted to
#      RECIPE_MIN minutes (the cosine schedule ends where the time does),
#   3. at the same time runs the study at the full budget (ferlab reproduce --budget full: the
#      pretrained ViT fine-tuned end to end at 224 px, 3- and 5-layer heads, frozen then gradual
#      unfreezing, the lr sweep), each experiment capped at STUDY_RUN_MIN minutes,
#   2b. beside them, the FER+ recipe (configs/fer_vgg_wide_ferplus_gpu.yaml: soft FER+ labels, real-photo
#      augmentation, from scratch), evaluated on FER+ PublicTest (majority protocol),
#   4. evaluates every recipe run on PublicTest (ferlab evaluate) and writes window.json,
# all under $OUT (weights, cards, metrics, logs, nvidia-smi dmon). Runs write checkpoints every
# epoch: a window that ends early leaves resumable runs; copy $OUT back, start the next window
# with RESUME_FROM=that-folder and each run continues where it stopped (--resume).
#
#   OUT=/path/out bash scripts/gpu_window.sh                 # on the lent machine
#   DRY_RUN=1 OUT=/tmp/gw bash scripts/gpu_window.sh         # CPU, tiny budget (the CI check)
#
# Settings (environment): DATA, OUT, SEEDS ("0 1"), RECIPE_MIN (6), STUDY_RUN_MIN (0.45),
# RESUME_FROM, DRY_RUN. The defaults fit one 10-minute command: the study's 10 runs at 0.45 min
# plus start-up and evaluation run beside the 6-minute recipe runs.
set -euo pipefail
DATA=${DATA:-../shared/data/fer2013-no-private.zip}
OUT=${OUT:?set OUT to the folder that comes back from the machine}
SEEDS=${SEEDS:-"0 1"}
RECIPE_MIN=${RECIPE_MIN:-6}
STUDY_RUN_MIN=${STUDY_RUN_MIN:-0.45}
DRY_RUN=${DRY_RUN:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT/logs"
if [ -n "${RESUME_FROM:-}" ] && [ "$RESUME_FROM" != "$OUT" ]; then
  cp -rn "$RESUME_FROM"/. "$OUT"/
fi
START=$(date +%s)
stamp() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/logs/window.log"; }

# -- 1. environment and plan
"$PY" - "$DATA" "$DRY_RUN" <<'PY' | tee "$OUT/logs/environment.txt"
import sys, torch, pathlib
data, dry = sys.argv[1], sys.argv[2] == "1"
cuda = torch.cuda.is_available()
print(f"torch {torch.__version__}; CUDA: {torch.cuda.get_device_name(0) if cuda else 'none'}; "
      f"bf16: {cuda and torch.cuda.is_bf16_supported()}")
problems = []
if not pathlib.Path(data).exists():
    problems.append(f"{data}: FER-2013 not found (set DATA)")
if not pathlib.Path("../shared/models/dinov2-small/config.json").exists():
    problems.append("../shared/models/dinov2-small: the pretrained ViT folder is missing")
if not cuda and not dry:
    problems.append("no CUDA device: run with DRY_RUN=1 on a CPU")
for p in problems:
    print("gpu_window: " + p, file=sys.stderr)
sys.exit(2 if problems else 0)
PY
if [ "$DRY_RUN" = 1 ]; then
  # everything runs, on a few images for one or two epochs: the CPU check of this script
  RECIPE_ARGS=(--epochs 2 --limit-train 140 --limit-val 70 --batch-size 32)
  STUDY_ARGS=(--set train.epochs=1 --set data.limit_train=28 --set data.limit_val=28 --limit-eval 28)
  PRECISION=()
else
  RECIPE_ARGS=(--epochs 300 --budget-minutes "$RECIPE_MIN")
  STUDY_ARGS=(--set "train.budget_minutes=$STUDY_RUN_MIN")
  PRECISION=(--precision bf16-mixed)
fi
n_seeds=$(wc -w <<<"$SEEDS")
# Estimates from the H200 timings in docs/accuracy.md (host path: 3.2 s per epoch alone, 4.8 s
# with four runs sharing the card); the device-resident path should only do better.
recipe_epochs=$(( RECIPE_MIN * 60 * 10 / 48 ))
study_min=$("$PY" -c "print(round(10 * $STUDY_RUN_MIN + 1, 1))")
stamp "plan: step 2, recipe: ${n_seeds} seed(s) side by side, ${RECIPE_MIN} min (at least ~${recipe_epochs} of 300" \
  "epochs at the shared-card rate; the schedule is fitted to the time); step 3, study: 10 runs x" \
  "${STUDY_RUN_MIN} min + evaluation = ~${study_min} min, beside step 2; step 4, evaluation: ~1 min;" \
  "total ~$(( RECIPE_MIN > ${study_min%.*} ? RECIPE_MIN + 2 : ${study_min%.*} + 2 )) min"

# -- 2 and 3. recipe seeds and the full-budget study, side by side on the one GPU
if command -v nvidia-smi >/dev/null && [ "$DRY_RUN" != 1 ]; then
  nvidia-smi dmon -s u -d 1 >"$OUT/logs/dmon.log" 2>&1 &
  DMON=$!
fi
pids=()
for seed in $SEEDS; do
  run="$OUT/recipe_s$seed"
  if [ -f "$run/checkpoints/last.ckpt" ]; then  # an earlier window's run: continue it
    stamp "recipe seed $seed: resuming $run"
    ferlab train --resume "$run" --no-progress >>"$OUT/logs/recipe_s$seed.log" 2>&1 &
  else
    stamp "recipe seed $seed -> $run"
    ferlab train --config configs/fer_vgg_wide.yaml --data "$DATA" --out "$run" --seed "$seed" \
      --name "fer_vgg_wide_s$seed" --on-device "${PRECISION[@]}" "${RECIPE_ARGS[@]}" \
      --no-progress >"$OUT/logs/recipe_s$seed.log" 2>&1 &
  fi
  pids+=($!)
done
# the FER+ recipe (issue 19): the same network from scratch on the FER+ vote distributions, real-photo augmentation
run="$OUT/ferplus"
if [ -f "$run/checkpoints/last.ckpt" ]; then
  stamp "FER+ recipe: resuming $run"
  ferlab train --resume "$run" --no-progress >>"$OUT/logs/ferplus.log" 2>&1 &
else
  stamp "FER+ recipe -> $run"
  ferlab train --config configs/fer_vgg_wide_ferplus_gpu.yaml --data "$DATA" --out "$run" --on-device \
    "${PRECISION[@]}" "${RECIPE_ARGS[@]}" --no-progress >"$OUT/logs/ferplus.log" 2>&1 &
fi
pids+=($!)
stamp "study (reproduce --budget full) -> $OUT/reproduce-full"
ferlab reproduce --data "$DATA" --budget full --out "$OUT/reproduce-full" "${STUDY_ARGS[@]}" --no-progress \
  >"$OUT/logs/reproduce.log" 2>&1 &
pids+=($!)
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ -n "${DMON:-}" ] && kill "$DMON" 2>/dev/null || true
stamp "training done (status $status)"

# -- 4. evaluation on PublicTest and the summary
for seed in $SEEDS; do
  if [ -d "$OUT/recipe_s$seed/best" ]; then
    ferlab evaluate --model "$OUT/recipe_s$seed/best" --data "$DATA" --json >"$OUT/eval_recipe_s$seed.json" \
      2>>"$OUT/logs/evaluate.log" || status=1
  fi
done
if [ -d "$OUT/ferplus/best" ]; then  # FER+ PublicTest (majority protocol) and FER-2013 PublicTest
  ferlab evaluate --model "$OUT/ferplus/best" --data "$DATA" --labels ferplus-majority --json \
    >"$OUT/eval_recipe_ferplus.json" 2>>"$OUT/logs/evaluate.log" || status=1
fi
"$PY" - "$OUT" "$START" <<'PY'
import json, pathlib, statistics, sys, time
out, start = pathlib.Path(sys.argv[1]), float(sys.argv[2])
res = {"seconds": round(time.time() - start, 1), "recipe": {}, "study": None, "gpu_busy_median": None}
for f in sorted(out.glob("eval_recipe_s*.json")):
    try:
        r = json.loads(f.read_text())
        res["recipe"][f.stem.removeprefix("eval_")] = {"accuracy": r["accuracy"], "n": r["n"], "tta": r["tta"]}
    except (ValueError, KeyError):
        res["recipe"][f.stem] = "unreadable"
fp = out / "eval_recipe_ferplus.json"
if fp.exists():
    r = json.loads(fp.read_text())
    res["ferplus"] = {k: r.get(k) for k in ("labels", "accuracy", "n", "accuracy_without_train_duplicates")}
report = out / "reproduce-full" / "results.json"
if report.exists():
    r = json.loads(report.read_text())
    res["study"] = {
        "vit": r["vit"]["key"],
        "val_accuracy": {k: v["accuracy"] for k, v in r["evals"]["val"].items()},
        "study_vit_val_accuracy": r["study"]["vit_val_accuracy"],
    }
dmon = out / "logs" / "dmon.log"
if dmon.exists():
    busy = [int(line.split()[1]) for line in dmon.read_text().splitlines() if line.strip() and line.split()[0].isdigit()]
    res["gpu_busy_median"] = statistics.median(busy) if busy else None
(out / "window.json").write_text(json.dumps(res, indent=2))
print(json.dumps(res)[:2000])
PY
stamp "done: $OUT/window.json"
exit $status
