#!/usr/bin/env bash
# The README's main command, on the embedded default (the procedural scenes dataset):
# install dependencies, build, generate the dataset, train the single-task baselines, the
# multi-task baseline, MTAN, cross-stitch and NDDR-CNN from the single-task runs (semseg, depth,
# normals, edge), a branched network whose tree `densemtl branch` chooses from the single-task runs,
# evaluate each on the test split, and write the report (runs/demo/report/report.html).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
start=$(date +%s)
D=build/densemtl
CONFIGS=configs/synthetic/resnet18
RUNS=runs/demo
$D generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
rm -rf "$RUNS"
for task in semseg depth normals edge; do
  $D train --config "$CONFIGS/$task.yaml" --out "$RUNS/single_task_$task"
done
$D train --config "$CONFIGS/multi_task_baseline.yaml" --out "$RUNS/multi_task_baseline"
$D train --config "$CONFIGS/mtan.yaml" --out "$RUNS/mtan"
# Built from the single-task runs above (model.<architecture>.single_task_runs in the configs).
$D train --config "$CONFIGS/cross_stitch.yaml" --out "$RUNS/cross_stitch"
$D train --config "$CONFIGS/nddr_cnn.yaml" --out "$RUNS/nddr_cnn"
# A branched network: the tree of least task dissimilarity within 1.5x the shared network's parameters.
$D branch --config "$CONFIGS/multi_task_baseline.yaml" --runs "$RUNS"/single_task_{semseg,depth,normals,edge} \
  --budget 1.5x --out "$RUNS/branched.yaml" --json "$RUNS/branch.json" | tee "$RUNS/branch.txt"
$D train --config "$RUNS/branched.yaml" --out "$RUNS/branched"
$D predict --run "$RUNS/multi_task_baseline" --input data/scenes --split test --limit 8 --out "$RUNS/predictions"
$D report "$RUNS"/single_task_* "$RUNS/multi_task_baseline" "$RUNS/mtan" "$RUNS/cross_stitch" "$RUNS/nddr_cnn" "$RUNS/branched" --out "$RUNS/report"
echo "main job done in $(( $(date +%s) - start )) s after the build; open $RUNS/report/report.html"
