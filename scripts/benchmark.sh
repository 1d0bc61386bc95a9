#!/usr/bin/env bash
# The procedural benchmark (README, The benchmark suite): every architecture under fixed loss
# weights and every balancer on the shared encoder, two seeds each, with their single-task runs,
# on the procedural scenes (generated here if missing), then the tables and figures in
# runs/benchmark/procedural/results.html. Finished cells are kept; a killed run continues where
# it stopped (--resume). Extra arguments go to densemtl benchmark (e.g. --shard 1/2).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x build/densemtl ]] || scripts/build.sh
D=build/densemtl
if [[ ! -f data/scenes/meta.json ]]; then
  $D generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
fi
start=$(date +%s)
$D benchmark --protocol protocols/procedural.yaml --grid protocols/grids/procedural.yaml \
  --out runs/benchmark/procedural --resume "$@"
echo "benchmark done in $(( $(date +%s) - start )) s; open runs/benchmark/procedural/results.html"
