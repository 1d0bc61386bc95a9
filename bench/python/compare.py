"""The PyTorch side of the comparison benchmark (bench/compare.py runs it beside
densemtl_bench_compare). One measurement per process, one JSON line on stdout; the same options
as the C++ program:
  compare.py train  --model st_r18|mt_r18|mtan_r18|mt_hrnet|mti_net|pad_net --size HxW --batch B [--threads T] [--iters N] [--warmup W]
  compare.py infer  --model ... --size HxW [--threads T] [--iters N] [--warmup W]
  compare.py data   --data DIR --size HxW --batch B [--workers W] [--iters N] [--warmup W]
  compare.py matmul [--threads T]
On a GPU: --device cuda, --amp (bf16 autocast), --channels-last; cuDNN autotuning is on there."""

import argparse
import collections
import contextlib
import json
import os
import random
import resource
import statistics
import sys
import time

import cv2
import numpy as np
import torch

# The PyTorch networks live with the tests, which also write parity fixtures from them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "python"))
import dense_models  # noqa: E402


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(args, **fields):
    out = {"side": "pytorch", "what": args.what, "model": args.model, "threads": args.threads, "device": args.device,
           "amp": args.amp}
    out.update(fields)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if args.device == "cuda" else 0.0
    print(json.dumps(out), flush=True)


def make_labels(tasks, b, h, w):
    y = {}
    for t in tasks:
        if t == "semseg":
            s = torch.randint(0, 40, (b, 1, h, w)).float()
            s[torch.rand(b, 1, h, w) < 0.05] = 255
            y[t] = s
        elif t == "normals":
            n = torch.randn(b, 3, h, w)
            y[t] = n / n.norm(dim=1, keepdim=True)
        elif t == "edge":
            y[t] = (torch.rand(b, 1, h, w) < 0.05).float()
        else:
            d = torch.rand(b, 1, h, w) * 9.5 + 0.5
            d[torch.rand(b, 1, h, w) < 0.02] = 255
            y[t] = d
    return y


def sync(args):
    if args.device == "cuda":
        torch.cuda.synchronize()


def autocast(args):
    return torch.autocast("cuda", dtype=torch.bfloat16) if args.amp else contextlib.nullcontext()


def layout(args, t):
    return t.contiguous(memory_format=torch.channels_last) if args.channels_last else t


def build(args, training):
    """The network, seeded, in train or eval mode, on the device, in the requested layout."""
    torch.manual_seed(0)
    model = dense_models.build(args.model).train(training).to(args.device)
    return model.to(memory_format=torch.channels_last) if args.channels_last else model


def train(args):
    model = build(args, training=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    x = layout(args, torch.randn(args.batch, 3, args.height, args.width).to(args.device))
    labels = {k: v.to(args.device) for k, v in make_labels(model.tasks, args.batch, args.height, args.width).items()}
    times, host_times = [], []  # host_times: until the step is queued (before the GPU sync)
    prof = None
    for it in range(args.warmup + args.iters):
        if args.count_ops and it == args.warmup + args.iters - 1:  # the last step
            prof = torch.autograd.profiler.profile()
            prof.__enter__()
        sync(args)
        t0 = time.perf_counter()
        opt.zero_grad()
        with autocast(args):
            out = model(x)
        out = {k: v.float() for k, v in out.items()}
        total = sum(dense_models.losses(out, labels).values())
        total.backward()
        opt.step()
        queued = (time.perf_counter() - t0) * 1000
        sync(args)
        ms = (time.perf_counter() - t0) * 1000
        if it >= args.warmup:
            times.append(ms)
            host_times.append(queued)
    fields = {}
    if prof is not None:
        prof.__exit__(None, None, None)
        counts = collections.Counter(e.name for e in prof.function_events)
        fields["ops_per_step"] = {"total": sum(counts.values()), "top": dict(counts.most_common(25))}
    report(args, batch=args.batch, size=[args.height, args.width], median_ms=round(statistics.median(times), 3),
           host_ms=round(statistics.median(host_times), 3), params=sum(p.numel() for p in model.parameters()), **fields)


def infer(args):
    model = build(args, training=False)
    x = layout(args, torch.randn(1, 3, args.height, args.width).to(args.device))
    times = []
    with torch.inference_mode():
        for it in range(args.warmup + args.iters):
            sync(args)
            t0 = time.perf_counter()
            with autocast(args):
                model(x)
            sync(args)
            ms = (time.perf_counter() - t0) * 1000
            if it >= args.warmup:
                times.append(ms)
    report(args, batch=1, size=[args.height, args.width], median_ms=round(statistics.median(times), 3))


class ScenesDataset(torch.utils.data.Dataset):
    """The reference's pipeline on the NYUD-MT layout: cv2 decoding, random flip, scale from
    {1, 1.2, 1.5} with cv2.warpAffine (cubic image and normals, nearest labels), depth / scale,
    fixed resize, ignore regions, uint8 cast, normalisation, CHW tensors."""

    def __init__(self, root, size):
        self.root = root
        with open(os.path.join(root, "gt_sets", "train.txt")) as f:
            self.ids = [l.strip() for l in f if l.strip()]
        self.h, self.w = size

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        i = self.ids[index]
        r = self.root
        img = cv2.cvtColor(cv2.imread(os.path.join(r, "images", i + ".jpg")), cv2.COLOR_BGR2RGB).astype(np.float32)
        seg = cv2.imread(os.path.join(r, "segmentation", i + ".png"), cv2.IMREAD_UNCHANGED).astype(np.float32) - 1
        seg[seg == -1] = 255
        labels = {"semseg": seg, "normals": np.load(os.path.join(r, "normals", i + ".npy")),
                  "edge": np.load(os.path.join(r, "edge", i + ".npy")), "depth": np.load(os.path.join(r, "depth", i + ".npy"))}
        interp = {"semseg": cv2.INTER_NEAREST, "normals": cv2.INTER_CUBIC, "edge": cv2.INTER_NEAREST, "depth": cv2.INTER_NEAREST}
        if random.random() < 0.5:
            img = cv2.flip(img, 1)
            for k in labels:
                labels[k] = cv2.flip(labels[k], 1)
            labels["normals"][:, :, 0] *= -1
        sc = random.choice([1.0, 1.2, 1.5])
        h, w = img.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, sc)
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC)
        for k in labels:
            labels[k] = cv2.warpAffine(labels[k], m, (w, h), flags=interp[k])
        labels["depth"] = labels["depth"] / sc
        img = cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_CUBIC)
        for k in labels:
            labels[k] = cv2.resize(labels[k], (self.w, self.h), interpolation=interp[k])
        n = labels["normals"]
        n = n / (np.linalg.norm(n, axis=2, keepdims=True) + np.finfo(np.float32).eps)
        n[np.linalg.norm(n, axis=2) == 0] = 255
        labels["normals"] = n
        labels["depth"][labels["depth"] == 0] = 255
        img = np.clip(img, 0, 255).astype(np.uint8).astype(np.float32) / 255.0
        img = (img - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        out = {"image": torch.from_numpy(img.transpose(2, 0, 1).copy())}
        for k, v in labels.items():
            v = v.astype(np.float32)
            out[k] = torch.from_numpy((v[None] if v.ndim == 2 else v.transpose(2, 0, 1)).copy())
        return out


def data(args):
    ds = ScenesDataset(args.data, (args.height, args.width))
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.workers)
    it = iter(loader)
    batches = 0
    start = None
    for k in range(args.warmup + args.iters):
        if k == args.warmup:
            start = time.perf_counter()
        next(it)
        if k >= args.warmup:
            batches += 1
    seconds = time.perf_counter() - start
    report(args, batch=args.batch, size=[args.height, args.width], workers=args.workers,
           images_per_second=round(batches * args.batch / seconds, 2))


def matmul(args):
    if args.device == "cuda":
        n = 8192
        rates = {}
        for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
            x = torch.randn(n, n, device="cuda", dtype=dtype)
            y = torch.randn(n, n, device="cuda", dtype=dtype)
            times = []
            for it in range(13):
                sync(args)
                t0 = time.perf_counter()
                torch.mm(x, y)
                sync(args)
                if it >= 3:
                    times.append(time.perf_counter() - t0)
            rates[name] = round(2 * n ** 3 / statistics.median(times) / 1e9, 2)
        report(args, gflops_per_second=rates["fp32"], bf16_gflops_per_second=rates["bf16"])
        return
    n = 2048
    x, y = torch.randn(n, n), torch.randn(n, n)
    times = []
    for it in range(13):
        t0 = time.perf_counter()
        torch.mm(x, y)
        if it >= 3:
            times.append(time.perf_counter() - t0)
    report(args, gflops_per_second=round(2 * n ** 3 / statistics.median(times) / 1e9, 2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["train", "infer", "data", "matmul"])
    p.add_argument("--model", default="mt_r18")
    p.add_argument("--data", default="data/scenes")
    p.add_argument("--size", default="96x128")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--amp", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--count-ops", action="store_true", help="train: count the operators dispatched in one step")
    args = p.parse_args()
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    args.height, args.width = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)
    {"train": train, "infer": infer, "data": data, "matmul": matmul}[args.what](args)


if __name__ == "__main__":
    main()
