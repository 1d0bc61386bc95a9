#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, writes the parity fixtures with the
# project's own PyTorch networks (tests/python/parity_fixtures.py, Debian's python3-torch), runs the
# whole test suite with them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# The parity tests compare densemtl's networks with PyTorch ones carrying the reference code's
# module names; they fail (not skip) when DENSEMTL_PARITY_DIR lacks a fixture.
export DENSEMTL_PARITY_DIR=$PWD/build/parity
/usr/bin/python3 tests/python/parity_fixtures.py "$DENSEMTL_PARITY_DIR" >/dev/null
cd build
ctest -j "$(nproc)" --output-on-failure
