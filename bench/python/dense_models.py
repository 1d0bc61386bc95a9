"""The networks of the comparison benchmark, written with PyTorch as the survey's reference code
writes them: a dilated ResNet-18 (output stride 8, the reference's _nostride_dilate) with
DeepLab-v3 heads, and HRNet-W18-small-v2 with HRNet heads. Parameter counts must equal
densemtl's (the harness checks), so both sides time the same computation."""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.segmentation.deeplabv3 import DeepLabHead

# Output channels of the four tasks (NYUD-like: 40 classes).
OUTPUTS = {"semseg": 40, "normals": 3, "edge": 1, "depth": 1}


class DilatedResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet18(weights=None)

        def nostride_dilate(m, dilate):
            if isinstance(m, nn.Conv2d):
                if m.stride == (2, 2):
                    m.stride = (1, 1)
                    if m.kernel_size == (3, 3):
                        m.dilation, m.padding = (dilate // 2,) * 2, (dilate // 2,) * 2
                elif m.kernel_size == (3, 3):
                    m.dilation, m.padding = (dilate,) * 2, (dilate,) * 2

        r.layer3.apply(lambda m: nostride_dilate(m, 2))
        r.layer4.apply(lambda m: nostride_dilate(m, 4))
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4
        self.channels = [512]

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return [self.layer4(self.layer3(self.layer2(self.layer1(x))))]


def conv_bn(cin, cout, k, stride, relu):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout, momentum=0.01)]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    def __init__(self, channels):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            [nn.Sequential(BasicBlock(c, c), BasicBlock(c, c)) for c in channels])
        for m in self.branches.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.01
        self.fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:
                    row.append(conv_bn(channels[j], channels[i], 1, 1, False))
                elif j < i:
                    row.append(nn.Sequential(*[
                        conv_bn(channels[j], channels[i] if k == i - j - 1 else channels[j], 3, 2, k != i - j - 1)
                        for k in range(i - j)]))
                else:
                    row.append(nn.Identity())
            self.fuse.append(row)

    def forward(self, x):
        n = len(x)
        x = [b(t) for b, t in zip(self.branches, x)]
        out = []
        for i in range(n):
            y = x[0] if i == 0 else self.fuse[i][0](x[0])
            for j in range(1, n):
                if j == i:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(self.fuse[i][j](x[j]), size=x[i].shape[-2:], mode="bilinear", align_corners=False)
                else:
                    y = y + self.fuse[i][j](x[j])
            out.append(F.relu(y))
        return out


class HRNetW18Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64, momentum=0.01)
        self.conv2, self.bn2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64, momentum=0.01)
        down = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256, momentum=0.01))
        self.layer1 = nn.Sequential(Bottleneck(64, 64, downsample=down), Bottleneck(256, 64))
        c = [[256], [18, 36], [18, 36, 72], [18, 36, 72, 144]]
        self.transitions = nn.ModuleList([self._transition(c[s], c[s + 1]) for s in range(3)])
        self.stages = nn.ModuleList([
            nn.Sequential(*[HighResolutionModule(c[s + 1]) for _ in range(m)]) for s, m in enumerate([1, 3, 2])])
        self.channels = c[3]

    @staticmethod
    def _transition(prev, cur):
        t = nn.ModuleList()
        for i in range(len(cur)):
            if i < len(prev):
                t.append(conv_bn(prev[i], cur[i], 3, 1, True) if cur[i] != prev[i] else nn.Identity())
            else:
                t.append(nn.Sequential(*[
                    conv_bn(prev[-1], cur[i] if j == i - len(prev) else prev[-1], 3, 2, True)
                    for j in range(i + 1 - len(prev))]))
        return t

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for t, stage in zip(self.transitions, self.stages):
            xs = [t[i](xs[i] if i < len(xs) else xs[-1]) for i in range(len(t))]
            for module in stage:
                xs = module(xs)
        return xs


class HRNetHead(nn.Module):
    def __init__(self, channels, outputs):
        super().__init__()
        c = sum(channels)
        self.last_layer = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=False), nn.Conv2d(c, outputs, 1))

    def forward(self, x):
        size = x[0].shape[-2:]
        x = torch.cat([x[0]] + [F.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in x[1:]], 1)
        return self.last_layer(x)


class DeepLab(nn.Module):
    def __init__(self, channels, outputs):
        super().__init__()
        self.head = DeepLabHead(channels[-1], outputs)

    def forward(self, x):
        return self.head(x[-1])


class MultiTask(nn.Module):
    def __init__(self, backbone, head, tasks):
        super().__init__()
        self.backbone = backbone
        self.tasks = tasks
        self.decoders = nn.ModuleDict({t: head(backbone.channels, OUTPUTS[t]) for t in tasks})

    def forward(self, x):
        f = self.backbone(x)
        return {t: F.interpolate(self.decoders[t](f), size=x.shape[-2:], mode="bilinear", align_corners=False)
                for t in self.tasks}


class MTAN(nn.Module):
    """MTAN as the survey's ResNet re-implementation (densemtl's mtan.cpp): per task and residual
    layer an attention mask computed from the features before the layer's last block (and the
    task's previous attended features) multiplies the layer's output; a Bottleneck refinement
    block shared by all tasks, and a 2x2 max pooling after layer1, lead to the next layer."""

    def __init__(self, tasks):
        super().__init__()
        self.backbone = DilatedResNet18()
        self.tasks = tasks
        c = [None, 64, 128, 256, 512]

        def attention(cin, mid, cout):
            return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                                 nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout), nn.Sigmoid())

        self.attention = nn.ModuleList([nn.ModuleDict({t: attention(c[1] if k == 1 else 2 * c[k], c[k] // 4, c[k]) for t in tasks})
                                        for k in range(1, 5)])
        self.refine = nn.ModuleList([Bottleneck(c[k], c[k + 1] // 4, downsample=nn.Sequential(
            nn.Conv2d(c[k], c[k + 1], 1, bias=False), nn.BatchNorm2d(c[k + 1]))) for k in range(1, 4)])
        self.decoders = nn.ModuleDict({t: DeepLabHead(512, OUTPUTS[t]) for t in tasks})

    def forward(self, x):
        b = self.backbone
        size = x.shape[-2:]
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        before, after = [], []
        for layer in (b.layer1, b.layer2, b.layer3, b.layer4):
            u = layer[:-1](x)
            x = layer[-1](u)
            before.append(u)
            after.append(x)
        out = {}
        for t in self.tasks:
            a = None
            for k in range(4):
                mask = self.attention[k][t](before[0] if k == 0 else torch.cat([before[k], a], 1))
                a = mask * after[k]
                if k == 3:
                    break
                a = self.refine[k](a)
                if k == 0:
                    a = F.max_pool2d(a, 2, 2)
            out[t] = F.interpolate(self.decoders[t](a), size=size, mode="bilinear", align_corners=False)
        return out


def build(name):
    if name == "mtan_r18":
        return MTAN(["semseg", "normals", "edge", "depth"])
    if name == "st_r18":
        return MultiTask(DilatedResNet18(), DeepLab, ["semseg"])
    if name == "mt_r18":
        return MultiTask(DilatedResNet18(), DeepLab, ["semseg", "normals", "edge", "depth"])
    if name == "mt_hrnet":
        return MultiTask(HRNetW18Small(), HRNetHead, ["semseg", "normals", "edge", "depth"])
    raise ValueError(name)


def losses(outputs, labels):
    """The reference's losses: CE (ignore 255), L1 on normalised normals, balanced BCE (0.95),
    L1 depth over valid pixels."""
    total = {}
    for t, out in outputs.items():
        y = labels[t]
        if t == "semseg":
            total[t] = F.nll_loss(F.log_softmax(out, 1), y[:, 0].long(), ignore_index=255)
        elif t == "normals":
            n = out / (out.norm(p=2, dim=1, keepdim=True) + 1e-12)
            valid = (y != 255).float()
            total[t] = ((n - y).abs() * valid).sum() / valid.sum()
        elif t == "edge":
            valid = (y != 255).float()
            pos = (y >= 0.5).float() * valid
            l = out.clamp(min=0) - out * pos + torch.log1p(torch.exp(-out.abs()))
            w = 0.95
            total[t] = (l * (pos * w + (valid - pos) * (1 - w))).sum() / valid.sum()
        elif t == "depth":
            valid = (y != 255).float()
            total[t] = ((out - y).abs() * valid).sum() / valid.sum()
    return total
