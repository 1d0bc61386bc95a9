#!/usr/bin/env bash
# Sanitizer and fuzz checks (run by .ci/run after the test suite): builds fuzz/ with clang
# (AddressSanitizer + UndefinedBehaviorSanitizer, libFuzzer), runs the LibTorch-free tests under the
# sanitizers, then each fuzz target (.npy, images, .mat, YAML, split files, torch.save files) from
# its seed corpus in fuzz/corpus/<reader>/: a fixed number of inputs from seed 1, or for N seconds
# from a random seed with --fuzz-seconds N (or FUZZ_SECONDS). A sanitizer report, a crash or an exception other than densemtl's
# one-line error fails the script; the input that caused it is kept under build-fuzz/artifacts/.
# Usage: scripts/sanitize.sh [--fuzz-seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-}
if [[ "${1:-}" == "--fuzz-seconds" ]]; then seconds=$2; fi
# Inputs per target in the default, reproducible run (about 30 s each on 2 cores).
declare -A runs=([npy]=40000 [image]=12000 [mat]=200 [yaml]=100000 [split]=40000 [torchfile]=6000)
jobs=$(nproc)
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$jobs"
# allocator_may_return_null: an absurd allocation inside a library (matio sizing a corrupt file)
# returns NULL as glibc would, for the library to report, instead of stopping the run; for the same
# reason single allocations may be large (-malloc_limit_mb), only the resident size is bounded.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# LibTorch (not sanitized) leaks miniz's buffers when it refuses a malformed zip: fuzz/lsan.supp.
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp
echo "sanitize: LibTorch-free tests under AddressSanitizer + UndefinedBehaviorSanitizer"
(cd build-fuzz && ./densemtl_sanitized_tests --gtest_brief=1)
mkdir -p build-fuzz/artifacts
for reader in npy image mat yaml split torchfile; do
  corpus=build-fuzz/corpus/$reader
  if [[ -n "$seconds" ]]; then
    mkdir -p "$corpus"
    budget=(-max_total_time="$seconds")
    echo "sanitize: fuzzing the $reader reader for ${seconds} s"
  else
    rm -rf "$corpus" && mkdir -p "$corpus"  # the same start on every run
    budget=(-seed=1 -runs="${runs[$reader]}")
    echo "sanitize: fuzzing the $reader reader: ${runs[$reader]} inputs from seed 1"
  fi
  build-fuzz/fuzz_$reader "${budget[@]}" -timeout=120 -rss_limit_mb=4096 -malloc_limit_mb=65536 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/$reader- "$corpus" fuzz/corpus/$reader 2>build-fuzz/fuzz_$reader.log \
    || { tail -40 build-fuzz/fuzz_$reader.log; echo "sanitize: fuzz_$reader failed (input under build-fuzz/artifacts/)"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/fuzz_$reader.log | tr '\n' ' '; echo
done
echo "sanitize: all clean"
