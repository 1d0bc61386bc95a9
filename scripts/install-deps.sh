#!/usr/bin/env bash
# Installs every Debian package densemtl needs to build, test and run. Idempotent: packages that
# are already installed are left alone; the script says which ones it installed.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds Python's OpenCV for the comparison benchmarks)
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git
  # LibTorch (CPU) and the BLAS it must use: the OpenMP build of OpenBLAS (the pthread build fights
  # LibTorch's OpenMP pool; the reference BLAS is 3x slower at batch 1)
  libtorch-dev libopenblas0-openmp
  # Gloo's headers: LibTorch's c10d process group includes them (multi-process training), and
  # libtorch-dev does not depend on them
  libgloo-dev
  # image I/O and resizing, YAML configs, JSON, MATLAB .mat files, command line, logging
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libpng-dev
  libyaml-cpp-dev nlohmann-json3-dev libmatio-dev libcli11-dev libfmt-dev libspdlog-dev
  # tests; clang with its sanitizer and libFuzzer runtimes for fuzz/ (scripts/sanitize.sh)
  libgtest-dev clang libclang-rt-14-dev
  # plots in reports
  gnuplot-nox
  # the parity fixtures the tests compare against (tests/python/parity_fixtures.py: PyTorch
  # networks with the reference code's module names)
  python3-torch python3-torchvision python3-numpy
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-opencv)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "install-deps: installed ${#missing[@]} package(s): ${missing[*]}"
fi

# The OpenMP OpenBLAS must serve all three BLAS/LAPACK names (toolchain facts, pitfall 2).
if [[ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ]]; then
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  for name in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
    alt="${name}-x86_64-linux-gnu"
    target="/usr/lib/x86_64-linux-gnu/openblas-openmp/${name}"
    if [[ -e "$target" ]] && ! update-alternatives --query "$alt" 2>/dev/null | grep -q "^Value: $target"; then
      "${sudo[@]}" update-alternatives --set "$alt" "$target" >/dev/null
      echo "install-deps: $name now points to the OpenMP OpenBLAS"
    fi
  done
fi
