#!/usr/bin/env bash
# Configures and builds densemtl (Release, Ninja, ccache when present) into build/.
# Extra arguments go to cmake's configure step, e.g. -DCMAKE_PREFIX_PATH=... for another LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
elif [[ $# -gt 0 ]]; then
  cmake -S . -B build "$@"
fi
cmake --build build -j "$(nproc)"
