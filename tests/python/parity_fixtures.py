#!/usr/bin/python3
"""Writes densemtl's parity fixtures from the PyTorch networks of dense_models.py, which carry the
survey's reference code's module names: a PASCAL dilated ResNet-18 DeepLab-v3 single-task network,
the NYUD HRNet-18 multi-task baseline, PAD-Net and MTI-Net (also with edges and normals). Each file
is a plain dict saved with torch.save: `weights.<name>` for every state-dict entry, `input`
(1x3x64x96), and `output.<key>` for every output, deep supervision included ("initial_semseg",
"deep_supervision.scale_0.depth") and MTI-Net's refined features of each scale
("deep_supervision.scale_0.features_depth"), as the reference code returns them. Weights, batch-norm
statistics and affine parameters are random, so an eval-mode mistake shows.

  /usr/bin/python3 tests/python/parity_fixtures.py OUT_DIR
  DENSEMTL_PARITY_DIR=OUT_DIR build/densemtl_tests --gtest_filter='Parity.*'

scripts/test.sh does both, so the parity tests run in CI. Fixtures written by the reference code
itself have the same names and format and can be put in OUT_DIR instead.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.segmentation.deeplabv3 import DeepLabHead

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


class SingleTask(nn.Module):
    """The reference's SingleTaskModel: backbone, decoder (a DeepLab-v3 head as nn.Sequential),
    the prediction upsampled to the input size."""

    def __init__(self, task, outputs):
        super().__init__()
        self.task = task
        self.backbone = dense_models.DilatedResNet18()
        self.decoder = DeepLabHead(512, outputs)

    def forward(self, x):
        out = self.decoder(self.backbone(x)[-1])
        return {self.task: F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: parity_fixtures.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write(SingleTask("semseg", 21), os.path.join(out, "pascal_resnet18_semseg.pt"))
    dense_models.OUTPUTS["semseg"] = 40
    write(dense_models.MultiTask(dense_models.HRNetW18Small(), dense_models.HRNetHead, ["semseg", "depth"]),
          os.path.join(out, "nyud_hrnet18_multi_task_baseline.pt"))
    main_tasks = ["semseg", "depth"]
    four = ["semseg", "normals", "edge", "depth"]
    write(dense_models.PADNet(main_tasks, main_tasks), os.path.join(out, "nyud_hrnet18_pad_net.pt"))
    write(dense_models.MTINet(main_tasks, main_tasks), os.path.join(out, "nyud_hrnet18_mti_net.pt"))
    write(dense_models.MTINet(main_tasks, four), os.path.join(out, "nyud_hrnet18_mti_net+edges_normals.pt"))


if __name__ == "__main__":
    main()
