#!/usr/bin/python3
"""densemtl against the same networks in PyTorch (Python eager), side by side on this machine.

Runs every measurement as separate processes, densemtl and PyTorch interleaved (A B A B ...),
takes the median over the repeats, and prints (and writes) a Markdown table with the ratios:
training step (forward, losses, backward, Adam step), batch-1 inference latency, data pipeline
throughput (decode + augment + batch, both with 2 workers), peak memory, and the achieved
FLOP/s as a share of this machine's measured matrix-multiply FLOP/s.

  scripts/install-deps.sh --bench && scripts/build.sh
  build/densemtl generate --out data/scenes --size 96x128 --train 800 --val 100 --test 200 --force
  bench/compare.py [--repeats 3] [--threads 2] [--out bench/results-cpu.md]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CPP = os.path.join(ROOT, "build", "densemtl_bench_compare")
PY = [sys.executable, os.path.join(HERE, "python", "compare.py")]

MODELS = [("st_r18", "single-task ResNet-18 (dilated, ASPP)"),
          ("mt_r18", "multi-task ResNet-18, 4 tasks"),
          ("mt_hrnet", "multi-task HRNet-18, 4 tasks")]


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(args_cpp, args_py, repeats):
    cpp, py = [], []
    for _ in range(repeats):
        cpp.append(run([CPP] + args_cpp))
        py.append(run(PY + args_py))
    return cpp, py


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, PyTorch {torch.__version__} (Python), LibTorch of the build (C++)"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-size", default="96x128")
    p.add_argument("--train-batch", type=int, default=8)
    p.add_argument("--infer-size", default="192x256")
    p.add_argument("--data", default="data/scenes")
    p.add_argument("--out", default=os.path.join(HERE, "results-cpu.md"))
    a = p.parse_args()
    if not os.path.exists(CPP):
        raise SystemExit(f"{CPP} not found: build first (scripts/build.sh)")
    t = ["--threads", str(a.threads)]
    rows = []
    mm_cpp, mm_py = measure(["matmul"] + t, ["matmul"] + t, a.repeats)
    blas, peak, blas_py = med(mm_cpp, "gflops_per_second"), med(mm_cpp, "onednn_gflops_per_second"), med(mm_py, "gflops_per_second")
    print(f"matrix multiply (2048^3, float32): BLAS {blas:.1f} GFLOP/s (Python {blas_py:.1f}), oneDNN 1x1 convolution {peak:.1f} GFLOP/s", flush=True)
    for model, title in MODELS:
        tr = ["train", "--model", model, "--size", a.train_size, "--batch", str(a.train_batch), "--iters", "4", "--warmup", "1"] + t
        cpp, py = measure(tr, tr, a.repeats)
        if cpp[0]["params"] != py[0]["params"]:
            raise SystemExit(f"{model}: parameter counts differ ({cpp[0]['params']} vs {py[0]['params']})")
        flops = 3 * cpp[0]["gflops_forward_per_image"] * a.train_batch
        c_ms, p_ms = med(cpp, "median_ms"), med(py, "median_ms")
        rows.append((f"{title}: training step, batch {a.train_batch}, {a.train_size}", f"{c_ms:.0f} ms", f"{p_ms:.0f} ms",
                     p_ms / c_ms, med(cpp, "peak_rss_mb"), med(py, "peak_rss_mb"),
                     f"{100 * flops / (c_ms / 1000) / peak:.0f}% / {100 * flops / (p_ms / 1000) / peak:.0f}%",
                     f"{cpp[0]['params']:,}"))
        print(rows[-1], flush=True)
        inf = ["infer", "--model", model, "--size", a.infer_size, "--iters", "10", "--warmup", "3"] + t
        cpp, py = measure(inf, inf, a.repeats)
        flops = cpp[0]["gflops_forward_per_image"]
        c_ms, p_ms = med(cpp, "median_ms"), med(py, "median_ms")
        rows.append((f"{title}: inference, batch 1, {a.infer_size}", f"{c_ms:.1f} ms", f"{p_ms:.1f} ms", p_ms / c_ms,
                     med(cpp, "peak_rss_mb"), med(py, "peak_rss_mb"),
                     f"{100 * flops / (c_ms / 1000) / peak:.0f}% / {100 * flops / (p_ms / 1000) / peak:.0f}%", ""))
        print(rows[-1], flush=True)
    d = ["data", "--data", a.data, "--size", a.train_size, "--batch", str(a.train_batch), "--workers", "2", "--iters", "40",
         "--warmup", "5"]
    cpp, py = measure(d, d, a.repeats)
    c, pr = med(cpp, "images_per_second"), med(py, "images_per_second")
    rows.append((f"data pipeline (decode, flip, scale, resize, normalise, batch), batch {a.train_batch}, {a.train_size}, 2 workers",
                 f"{c:.0f} img/s", f"{pr:.0f} img/s", c / pr, med(cpp, "peak_rss_mb"), med(py, "peak_rss_mb"), "", ""))
    print(rows[-1], flush=True)

    lines = [f"Measured on: {machine()}; {a.threads} threads on both sides; "
             f"medians of {a.repeats} interleaved runs per side (`bench/compare.py`).", "",
             f"Matrix-multiply FLOP/s of this machine (float32): {blas:.1f} GFLOP/s for a 2048³ `torch.mm` through BLAS "
             f"({blas_py:.1f} from Python), {peak:.1f} GFLOP/s for the same kind of work as a large 1×1 convolution through "
             f"oneDNN; the FLOP/s column is the share of the oneDNN figure (training counted as 3 × the forward FLOPs).", "",
             "| measurement | densemtl (C++) | PyTorch (Python) | speed-up | peak memory C++ / Python (MB) | share of matmul FLOP/s, C++ / Python | parameters |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | **{r[3]:.2f}x** | {r[4]:.0f} / {r[5]:.0f} | {r[6]} | {r[7]} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)
    print(f"written to {a.out}")


if __name__ == "__main__":
    main()
