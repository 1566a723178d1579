#!/usr/bin/env bash
# Noise robustness on the embedded synthetic dataset: the command behind docs/results.md's
# "Noise robustness" numbers. Does the RE make fusion robust to corrupted modalities?
#
#   bash benchmarks/robustness.sh
#
# Step 1 trains (or reuses) the quality benchmark's pipelines: per seed one with RE and one without
# (--estimator none), egemaps+vggface+fau, cpu preset (4x64 BiGRU). Step 2 evaluates them under
# each corruption and level, and trains only the oracle fusers.
# Writes benchmarks/results/robustness/{robustness.md,robustness.csv,robustness.png,difficulty.csv,summary.json}.
set -euo pipefail
PY="${PYTHON:-python}"
SEEDS="${SEEDS:-0,1,2}"
Q="${QUALITY:-benchmarks/results/quality}"
OUT="${OUT:-benchmarks/results/robustness}"
CORRUPT="${CORRUPT:-vggface:occlusion,vggface:gaussian,vggface:splice,egemaps:occlusion,egemaps:gaussian,egemaps:splice}"

"$PY" benchmarks/quality.py --seeds "$SEEDS" --variants re,nore --out "$Q" >/dev/null
runs=()
for s in ${SEEDS//,/ }; do runs+=(--run "$Q/re-seed$s" --baseline-run "$Q/nore-seed$s"); done
exec "$PY" -m musefuse.cli robustness "${runs[@]}" \
  --corrupt "$CORRUPT" \
  --levels 0,0.25,0.5,0.75,1 \
  --threads 1 \
  --out "$OUT" --overwrite
