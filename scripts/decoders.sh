#!/usr/bin/env bash
# The survey's decoder-focused table on the procedural scenes: HRNet-18 single-task runs (semseg,
# depth, normals, edge), the shared-encoder baseline, PAD-Net, MTI-Net, PAP-Net and JTRL, each
# trained and scored on the test split by one command, then one report with per-task metrics,
# Delta_m, parameters, FLOPs, time and memory (runs/decoders/report/report.html).
# Usage: scripts/decoders.sh   (after scripts/build.sh; the dataset is the main job's)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
D=build/densemtl
CONFIGS=configs/synthetic/hrnet18
RUNS=runs/decoders
$D generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --seed 0 --force
rm -rf "$RUNS"
for task in semseg depth normals edge; do
  $D train --config "$CONFIGS/$task.yaml" --out "$RUNS/single_task_$task"
done
for model in multi_task_baseline pad_net mti_net pap_net jtrl; do
  $D train --config "$CONFIGS/$model.yaml" --out "$RUNS/$model"
done
$D report "$RUNS"/single_task_* "$RUNS"/{multi_task_baseline,pad_net,mti_net,pap_net,jtrl} --out "$RUNS/report"
echo "decoder-focused table done in $(( $(date +%s) - start )) s; open $RUNS/report/report.html"
