#!/usr/bin/env bash
# The balancer comparison on the embedded default: every task-balancing method trains the same
# multi-task baseline (semseg, normals, edge, depth; quarter-width dilated ResNet-18, 96x128) on
# the procedural scenes, against the four single-task baselines, and one report compares them
# (per-task metrics, Δm, time per step, peak memory): runs/balancers/report/report.html.
#   scripts/balancers.sh [--epochs N] [--methods a,b,...] [--out DIR]
# Finished runs are kept and skipped, a killed one resumes: run it again to continue.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="" methods="" runs=runs/balancers
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --out) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "balancers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x build/densemtl ]] || scripts/build.sh
D=build/densemtl
CONFIGS=configs/synthetic/resnet18
if [[ ! -f data/scenes/meta.json ]]; then
  $D generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
fi
if [[ -z "$methods" ]]; then  # every registered balancer, in the registry's order
  methods=$($D train --help-config | sed -n 's/^| `balancer\.name` | one of \([^|]*\) |.*/\1/p' | tr -d ' ')
  [[ -n "$methods" ]] || { echo "balancers.sh: cannot read the balancer list from densemtl train --help-config" >&2; exit 1; }
fi
common=()
[[ -n "$epochs" ]] && common+=(--set "train.epochs=$epochs")
start=$(date +%s)
train() {  # train CONFIG RUN_DIR [--set ...]: skipped when finished, resumed when killed
  local config=$1 dir=$2; shift 2
  if [[ -f "$dir/run.json" ]]; then echo "== $dir: done already"; return; fi
  local resume=()
  [[ -f "$dir/checkpoint.pt" ]] && resume=(--resume)
  echo "== $dir"
  $D train --config "$config" --out "$dir" "${resume[@]}" "${common[@]}" "$@"
}
for task in semseg depth normals edge; do
  train "$CONFIGS/$task.yaml" "$runs/single_task_$task"
done
dirs=()
IFS=, read -ra list <<< "$methods"
for m in "${list[@]}"; do
  if [[ "$m" == fixed ]]; then  # the reference's per-dataset weights
    train "$CONFIGS/multi_task_baseline.yaml" "$runs/mt_fixed"
  else
    train "$CONFIGS/balancing.yaml" "$runs/mt_$m" --set "balancer.name=$m"
  fi
  dirs+=("$runs/mt_$m")
done
$D report "$runs"/single_task_* "${dirs[@]}" --out "$runs/report"
echo "balancer comparison done in $(( $(date +%s) - start )) s; open $runs/report/report.html"
