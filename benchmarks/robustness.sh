#!/usr/bin/env bash
# Noise robustness on the embedded synthetic dataset: the command behind the README's
# "Noise robustness" numbers. Does the RE make fusion robust to corrupted modalities?
#
#   bash benchmarks/robustness.sh                       # 3 seeds, the cpu preset (4x64 BiGRU), ~1 h on 2 cores
#   SEEDS=2 EXTRA="--layers 1 --hidden 16 --epochs 5" bash benchmarks/robustness.sh   # a quick look
#
# Writes benchmarks/results/robustness/{robustness.md,robustness.csv,robustness.png,difficulty.csv,summary.json}.
set -euo pipefail
SEEDS="${SEEDS:-3}"
OUT="${OUT:-benchmarks/results/robustness}"
CORRUPT="${CORRUPT:-vggface:occlusion,vggface:gaussian,vggface:splice,egemaps:occlusion,egemaps:gaussian,egemaps:splice}"
# shellcheck disable=SC2086  # EXTRA is a list of flags
exec "${PYTHON:-python}" -m musefuse.cli robustness \
  --modalities egemaps,vggface,fau \
  --corrupt "$CORRUPT" \
  --levels 0,0.25,0.5,0.75,1 \
  --seeds "$SEEDS" \
  --threads 1 \
  --out "$OUT" --overwrite \
  ${EXTRA:-}
