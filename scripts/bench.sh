#!/usr/bin/env bash
# densemtl against the same networks in PyTorch (Python) on this machine: installs the bench
# dependencies (Debian's python3-torch, python3-torchvision, python3-opencv), builds, generates
# the procedural dataset when missing, and runs bench/compare.py, which prints and writes
# bench/results-cpu.md. The boundary-evaluation benchmark is separate:
# build/densemtl_bench_boundary --images 654.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
scripts/build.sh
if [[ ! -f data/scenes/meta.json ]]; then
  build/densemtl generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
fi
/usr/bin/python3 bench/compare.py "$@"
