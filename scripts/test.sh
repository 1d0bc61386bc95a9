#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest -j "$(nproc)" --output-on-failure
