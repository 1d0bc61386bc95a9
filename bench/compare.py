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

On a GPU machine, with densemtl built against a CUDA LibTorch (README, "CUDA"):
  bench/compare.py --device cuda [--train-size 480x640 --train-batch 8 --infer-size 480x640]
times float32 and bf16 autocast, channels-last and cuDNN autotuning on both sides, plus
densemtl's batch-1 inference replayed as a CUDA graph, and writes bench/results-cuda.md.
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
          ("mtan_r18", "MTAN ResNet-18, 4 tasks"),
          ("mt_hrnet", "multi-task HRNet-18, 4 tasks"),
          ("mti_net", "MTI-Net HRNet-18, 4 tasks")]


class Failed(Exception):
    pass


def run(cmd, soft=False):
    """One measurement process; its JSON line. A failure ends the run, or with `soft` (the GPU
    table) raises Failed with the error's message, to become a 'failed' cell."""
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        if not soft:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
        lines = out.stderr.strip().splitlines() or ["no message"]
        # Python ends a traceback with the message; LibTorch's errors start with it.
        msg = lines[-1] if "Traceback" in out.stderr else lines[0]
        print(f"FAILED: {' '.join(cmd)}\n{out.stderr[-3000:]}", flush=True)
        raise Failed(msg[:200])
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(args_cpp, args_py, repeats, soft=False):
    """`repeats` runs of each side, interleaved; args_py None: densemtl's side only."""
    cpp, py = [], []
    for _ in range(repeats):
        cpp.append(run([CPP] + args_cpp, soft))
        if args_py is not None:
            py.append(run(PY + args_py, soft))
    return cpp, py


def selected(a):
    """The models of --models, in the table's order."""
    names = a.models.split(",")
    unknown = [n for n in names if n not in dict(MODELS)]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)} (known: {', '.join(m for m, _ in MODELS)})")
    return [(m, t) for m, t in MODELS if m in names]


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def gpu_name():
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"


def main_cuda(a):
    """GPU table: fp32 and bf16 autocast for training and batch-1 inference, channels-last and
    cuDNN autotuning on both sides, and densemtl's inference as a replayed CUDA graph."""
    t = ["--threads", str(a.threads), "--device", "cuda"]
    lines = []
    rows = []

    def write():
        head = [f"Measured on: {gpu_name()}, {machine()}; medians of {a.repeats} interleaved runs per side "
                f"(`bench/compare.py --device cuda`); both sides channels-last with cuDNN autotuning; "
                f"densemtl's inference has its batch norms folded; 'host' is the time until a training step is "
                f"queued, before the GPU is synchronised (where it is close to the step time, the CPU is the bottleneck).", ""] + lines + [
                "| measurement | densemtl (C++) | PyTorch (Python) | speed-up | peak GPU memory C++ / Python (MB) | share of bf16 matmul FLOP/s, C++ / Python | parameters |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        text = "\n".join(head + rows) + "\n"
        with open(a.out, "w") as f:
            f.write(text)
        return text

    def pair(args_cpp, args_py):
        return measure(args_cpp, args_py, a.repeats, soft=True)

    try:
        mm_cpp, mm_py = pair(["matmul"] + t, ["matmul"] + t)
        bf16, fp32 = med(mm_cpp, "bf16_gflops_per_second"), med(mm_cpp, "gflops_per_second")
        lines += [f"Matrix multiply (8192³): {bf16 / 1000:.0f} TFLOP/s in bf16, {fp32 / 1000:.0f} TFLOP/s in float32 "
                  f"(Python: {med(mm_py, 'bf16_gflops_per_second') / 1000:.0f} / {med(mm_py, 'gflops_per_second') / 1000:.0f}); "
                  f"the FLOP/s column is the share of the bf16 figure (training counted as 3 × the forward FLOPs).", ""]
    except Failed as e:
        bf16 = float("nan")
        lines += [f"Matrix multiply: failed ({e})", ""]
    write()

    def share(gflop, ms):
        return f"{100 * gflop / (ms / 1000) / bf16:.1f}%"

    for model, title in selected(a):
        for amp in (False, True):
            prec = "bf16 autocast" if amp else "float32"
            extra = ["--amp"] if amp else []
            tr = ["train", "--model", model, "--size", a.train_size, "--batch", str(a.train_batch), "--iters", "20",
                  "--warmup", "5"] + t + extra
            label = f"{title}: training step, batch {a.train_batch}, {a.train_size}, {prec}"
            try:
                cpp, py = pair(tr, tr + ["--channels-last"])
                if cpp[0]["params"] != py[0]["params"]:
                    raise Failed(f"parameter counts differ ({cpp[0]['params']} vs {py[0]['params']})")
                flops = 3 * cpp[0]["gflops_forward_per_image"] * a.train_batch
                c_ms, p_ms = med(cpp, "median_ms"), med(py, "median_ms")
                rows.append(f"| {label} | {c_ms:.1f} ms ({1000 * a.train_batch / c_ms:.0f} img/s; host {med(cpp, 'host_ms'):.1f} ms) | "
                            f"{p_ms:.1f} ms ({1000 * a.train_batch / p_ms:.0f} img/s; host {med(py, 'host_ms'):.1f} ms) | **{p_ms / c_ms:.2f}x** | "
                            f"{med(cpp, 'peak_gpu_mb'):.0f} / {med(py, 'peak_gpu_mb'):.0f} | {share(flops, c_ms)} / {share(flops, p_ms)} | "
                            f"{cpp[0]['params']:,} |")
            except Failed as e:
                rows.append(f"| {label} | failed: {e} | | | | | |")
            print(rows[-1], flush=True)
            write()
            inf = ["infer", "--model", model, "--size", a.infer_size, "--iters", "50", "--warmup", "10"] + t + extra
            label = f"{title}: inference, batch 1, {a.infer_size}, {prec}"
            try:
                cpp, py = pair(inf, inf + ["--channels-last"])
                graph, _ = pair(inf + ["--graph"], None)
                flops = cpp[0]["gflops_forward_per_image"]
                c_ms, p_ms, g_ms = med(cpp, "median_ms"), med(py, "median_ms"), med(graph, "median_ms")
                mem = f"{med(cpp, 'peak_gpu_mb'):.0f} / {med(py, 'peak_gpu_mb'):.0f}"
                rows.append(f"| {label} | {c_ms:.2f} ms | {p_ms:.2f} ms | **{p_ms / c_ms:.2f}x** | {mem} | "
                            f"{share(flops, c_ms)} / {share(flops, p_ms)} | |")
                rows.append(f"| {label}, densemtl as a CUDA graph | {g_ms:.2f} ms | {p_ms:.2f} ms | **{p_ms / g_ms:.2f}x** | "
                            f"{med(graph, 'peak_gpu_mb'):.0f} / {med(py, 'peak_gpu_mb'):.0f} | {share(flops, g_ms)} / {share(flops, p_ms)} | |")
            except Failed as e:
                rows.append(f"| {label} | failed: {e} | | | | | |")
            print(rows[-1], flush=True)
            write()
    if os.path.exists(os.path.join(ROOT, a.data, "meta.json")):
        d = ["data", "--data", a.data, "--size", a.train_size, "--batch", str(a.train_batch), "--workers", str(a.workers),
             "--iters", "40", "--warmup", "5", "--threads", str(a.threads)]
        label = (f"data pipeline (decode, flip, scale, resize, normalise, batch) on the CPU, batch {a.train_batch}, "
                 f"{a.train_size}, {a.workers} workers")
        try:
            cpp, py = pair(d, d)
            c, pr = med(cpp, "images_per_second"), med(py, "images_per_second")
            rows.append(f"| {label} | {c:.0f} img/s | {pr:.0f} img/s | **{c / pr:.2f}x** | (host) {med(cpp, 'peak_rss_mb'):.0f} / "
                        f"{med(py, 'peak_rss_mb'):.0f} | | |")
        except Failed as e:
            rows.append(f"| {label} | failed: {e} | | | | | |")
        print(rows[-1], flush=True)
    text = write()
    print(text)
    print(f"written to {a.out}")


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
    p.add_argument("--models", default=",".join(m for m, _ in MODELS),
                   help="comma-separated subset of: " + ", ".join(m for m, _ in MODELS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-size", default="96x128")
    p.add_argument("--train-batch", type=int, default=8)
    p.add_argument("--infer-size", default="192x256")
    p.add_argument("--data", default="data/scenes")
    p.add_argument("--out", default=None, help="default: bench/results-cpu.md, or bench/results-cuda.md with --device cuda")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--workers", type=int, default=4, help="data loader workers for the GPU table's data pipeline row")
    a = p.parse_args()
    if not os.path.exists(CPP):
        raise SystemExit(f"{CPP} not found: build first (scripts/build.sh)")
    if a.out is None:
        a.out = os.path.join(HERE, "results-cuda.md" if a.device == "cuda" else "results-cpu.md")
    if a.device == "cuda":
        return main_cuda(a)
    t = ["--threads", str(a.threads)]
    rows = []
    mm_cpp, mm_py = measure(["matmul"] + t, ["matmul"] + t, a.repeats)
    blas, peak, blas_py = med(mm_cpp, "gflops_per_second"), med(mm_cpp, "onednn_gflops_per_second"), med(mm_py, "gflops_per_second")
    print(f"matrix multiply (2048^3, float32): BLAS {blas:.1f} GFLOP/s (Python {blas_py:.1f}), oneDNN 1x1 convolution {peak:.1f} GFLOP/s", flush=True)
    for model, title in selected(a):
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
