#!/usr/bin/python3
"""Writes parity fixtures of the decoder-focused networks in dense_models.py (PAD-Net, MTI-Net, the
reference's module names) in the format of the reference fixtures (../shared/parity/README.md):
`weights.<name>` for every state-dict entry, `input`, and `output.<key>` for every output, deep
supervision included ("initial_semseg", "deep_supervision.scale_0.depth"). Weights, batch-norm
statistics and affine parameters are random, so an eval-mode mistake shows.

  bench/python/parity_fixtures.py OUT_DIR
  DENSEMTL_PARITY_DIR=OUT_DIR build/densemtl_tests --gtest_filter='Parity.*'

(densemtl's parity test looks for the reference's fixtures there too: link or copy them in.)
This checks densemtl against an independent PyTorch implementation of the spec; the reviewers'
fixtures written by the reference code itself use the same file names and format.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dense_models  # noqa: E402


def randomise(model):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean") or name.endswith(".bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1:  # batch-norm weight
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)


def write(model, path):
    randomise(model)
    model.eval()
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
    d = {"weights." + k: v.clone() for k, v in model.state_dict().items()}
    d["input"] = x
    for k, v in out.items():
        d["output." + k] = v
    torch.save(d, path)
    print(f"{path}: {len(out)} outputs, {sum(p.numel() for p in model.parameters())} parameters")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    main_tasks = ["semseg", "depth"]
    four = ["semseg", "normals", "edge", "depth"]
    write(dense_models.PADNet(main_tasks, main_tasks), os.path.join(out, "nyud_hrnet18_pad_net.pt"))
    write(dense_models.MTINet(main_tasks, main_tasks), os.path.join(out, "nyud_hrnet18_mti_net.pt"))
    write(dense_models.MTINet(main_tasks, four), os.path.join(out, "nyud_hrnet18_mti_net+edges_normals.pt"))


if __name__ == "__main__":
    main()
