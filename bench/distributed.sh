#!/usr/bin/env bash
# Multi-process training on this machine: the procedural scenes' multi-task baseline
# (configs/synthetic/resnet18/multi_task_baseline.yaml, global batch 8) trained by 1 process and by
# 2 processes (densemtl launch, Gloo on 127.0.0.1), 1 thread each, interleaved REPS times, each
# with the gradient sums overlapping the backward pass and without (distributed.overlap: false,
# where the whole sum is waited for after the backward pass: the all-reduce time per step), and,
# for reference, 1 process with 2 threads (the machine's usual one-process set-up).
# Prints training images/s (the second epoch: the first warms up), the ratio to 1 process, and
# the time per step spent waiting for gradient sums.
# Usage: bench/distributed.sh [REPS]   (about 2 min per repetition on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
D=build/densemtl
REPS=${1:-3}
WORK=${WORK:-/tmp/densemtl-bench-distributed}
mkdir -p "$WORK"
[ -d "$WORK/scenes" ] || $D -q generate --out "$WORK/scenes" --size 96x128 --train 192 --val 8 --test 8 --seed 0 > /dev/null
CFG=configs/synthetic/resnet18/multi_task_baseline.yaml
SET=(--set threads=1 --set "data.root=$WORK/scenes" --set train.epochs=2 --set train.eval_every=0 --set data.workers=1)
for rep in $(seq 1 "$REPS"); do
  rm -rf "$WORK/runs"
  $D -q train --config $CFG "${SET[@]}" --out "$WORK/runs/one" > /dev/null
  $D -q train --config $CFG "${SET[@]}" --set threads=2 --out "$WORK/runs/one_2threads" > /dev/null
  $D -q launch --nproc 2 -- train --config $CFG "${SET[@]}" --out "$WORK/runs/two" > /dev/null
  $D -q launch --nproc 2 -- train --config $CFG "${SET[@]}" --set distributed.overlap=false --out "$WORK/runs/two_serial" > /dev/null
  for run in one one_2threads two two_serial; do
    python3 - "$WORK/runs/$run" "$run" "$rep" >> "$WORK/results.tsv" <<'PY'
import json, sys
run, name, rep = sys.argv[1:]
last = [json.loads(l) for l in open(run + "/log.jsonl") if l.strip()][-1]
steps = 192 // 8
wait = last.get("gradient_wait_seconds", 0.0) / steps
print(f"{rep}\t{name}\t{last['images_per_second']:.3f}\t{1000 * wait:.2f}")
PY
  done
done
python3 - "$WORK/results.tsv" "$REPS" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
reps = int(sys.argv[2])
rows = rows[-4 * reps:]
by = {}
for rep, name, ips, wait in rows:
    by.setdefault(name, []).append((float(ips), float(wait)))
base = statistics.median(i for i, _ in by["one"])
print("| processes | train img/s (median of %d) | vs 1 process, 1 thread | gradient-sum wait per step |" % reps)
print("|---|---:|---:|---:|")
label = {"one": "1 (1 thread)", "one_2threads": "1 (2 threads)", "two": "2 × 1 thread, sums overlapping the backward pass",
         "two_serial": "2 × 1 thread, sums after the backward pass"}
for name in ("one", "one_2threads", "two", "two_serial"):
    ips = statistics.median(i for i, _ in by[name])
    wait = statistics.median(w for _, w in by[name])
    print(f"| {label[name]} | {ips:.1f} | {ips / base:.2f}x | {wait:.1f} ms |")
PY
rm -f "$WORK/results.tsv"
