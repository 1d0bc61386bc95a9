#!/usr/bin/env bash
# Training throughput under load: one training epoch of the main job's multi-task baseline
# (quarter-width ResNet-18, 96x128, batch 8) alone, beside one and beside two busy processes (shell
# loops that keep a core each busy), for each way of running densemtl given below. Prints one
# table: images/s of the second epoch (the first warms up), median over the repeats, and the share
# of the same variant's idle throughput it keeps. Runs are interleaved (variant by variant within
# each repeat) so that the machine's drift hits every variant alike.
#   bench/load.sh [--images N] [--repeats R]
# Variants: densemtl as it runs by default, densemtl with OpenMP's default waiting (threads spin
# before they sleep: OMP_WAIT_POLICY set empty), and one thread (threads: 1).
set -euo pipefail
cd "$(dirname "$0")/.."
images=200 repeats=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --images) images=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
D=build/densemtl
[[ -x $D ]] || scripts/build.sh
[[ -f data/scenes/meta.json ]] || $D -q generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
work=$(mktemp -d)
busy=()
cleanup() { for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

declare -A env_of=([default]="" [spin]="OMP_WAIT_POLICY=" [one-thread]="")
declare -A set_of=([default]="" [spin]="" [one-thread]="--set threads=1")
variants=(default spin one-thread)

# One epoch's rate (images/s of epoch 2 of 2) for a variant under `load` busy processes.
measure() {
  local variant=$1 load=$2 run=$work/run
  rm -rf "$run"
  busy=()
  for ((k = 0; k < load; ++k)); do bash -c 'while :; do :; done' & busy+=($!); done
  env ${env_of[$variant]} $D -q train --config configs/synthetic/resnet18/multi_task_baseline.yaml --out "$run" \
    --set train.epochs=2 --set data.max_train_images="$images" --set train.eval_every=0 --set data.val_split=val \
    ${set_of[$variant]} > /dev/null 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  busy=()
  sed -n '2p' "$run/log.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["images_per_second"])'
}

declare -A rates
for ((r = 0; r < repeats; ++r)); do
  for load in 0 1 2; do
    for v in "${variants[@]}"; do
      rates[$v,$load]+="$(measure "$v" "$load") "
      echo "repeat $((r + 1))/$repeats, $load busy, $v: ${rates[$v,$load]}" >&2
    done
  done
done

median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "| variant | alone (img/s) | 1 busy process (img/s) | kept | 2 busy processes (img/s) | kept |"
echo "|---|---:|---:|---:|---:|---:|"
for v in "${variants[@]}"; do
  a=$(median "${rates[$v,0]}") b=$(median "${rates[$v,1]}") c=$(median "${rates[$v,2]}")
  awk -v v="$v" -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "| %s | %.1f | %.1f | %.2f | %.1f | %.2f |\n", v, a, b, b / a, c, c / a }'
done
