#!/usr/bin/env bash
# The README's main command: installs dependencies, builds, and generates the procedural scenes
# dataset (the embedded default) into data/scenes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
DENSEMTL=build/densemtl
$DENSEMTL generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
$DENSEMTL info --dataset data/scenes
