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
    """One HRNet module: two BasicBlocks per branch, then fuse layers between all branches
    (names branches.i.k, fuse_layers.i.j, None where the reference has None)."""

    def __init__(self, channels):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            [nn.Sequential(BasicBlock(c, c), BasicBlock(c, c)) for c in channels])
        for m in self.branches.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.01
        self.fuse_layers = nn.ModuleList()
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
                    row.append(None)
            self.fuse_layers.append(row)

    def forward(self, x):
        n = len(x)
        x = [b(t) for b, t in zip(self.branches, x)]
        out = []
        for i in range(n):
            y = x[0] if i == 0 else self.fuse_layers[i][0](x[0])
            for j in range(1, n):
                if j == i:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(self.fuse_layers[i][j](x[j]), size=x[i].shape[-2:], mode="bilinear", align_corners=False)
                else:
                    y = y + self.fuse_layers[i][j](x[j])
            out.append(F.relu(y))
        return out


class HRNetW18Small(nn.Module):
    """HRNet-W18-small-v2 with the reference's module names (transition1..3, stage2..4)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64, momentum=0.01)
        self.conv2, self.bn2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64, momentum=0.01)
        down = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256, momentum=0.01))
        self.layer1 = nn.Sequential(Bottleneck(64, 64, downsample=down), Bottleneck(256, 64))
        c = [[256], [18, 36], [18, 36, 72], [18, 36, 72, 144]]
        for s, m in enumerate([1, 3, 2]):
            setattr(self, "transition%d" % (s + 1), self._transition(c[s], c[s + 1]))
            setattr(self, "stage%d" % (s + 2), nn.Sequential(*[HighResolutionModule(c[s + 1]) for _ in range(m)]))
        self.channels = c[3]

    @staticmethod
    def _transition(prev, cur):
        t = nn.ModuleList()
        for i in range(len(cur)):
            if i < len(prev):
                t.append(conv_bn(prev[i], cur[i], 3, 1, True) if cur[i] != prev[i] else None)
            else:
                t.append(nn.Sequential(*[
                    conv_bn(prev[-1], cur[i] if j == i - len(prev) else prev[-1], 3, 2, True)
                    for j in range(i + 1 - len(prev))]))
        return t

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for s in range(3):
            t = getattr(self, "transition%d" % (s + 1))
            xs = [(t[i] if t[i] is not None else nn.Identity())(xs[i] if i < len(xs) else xs[-1]) for i in range(len(t))]
            xs = getattr(self, "stage%d" % (s + 2))(xs)
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


class SABlock(nn.Module):
    """x -> conv3x3(x) * sigmoid(conv3x3'(x)), both bias-free (names attention.0, conv)."""

    def __init__(self, c):
        super().__init__()
        self.attention = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.Sigmoid())
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x) * self.attention(x)


class SEBlock(nn.Module):
    def __init__(self, c, r=16):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Linear(c, max(1, c // r)), nn.ReLU(), nn.Linear(max(1, c // r), c), nn.Sigmoid())

    def forward(self, x):
        return x * self.squeeze(x.mean(dim=(2, 3)))[:, :, None, None]


class Distillation(nn.Module):
    """D_t = F_t + sum over the other initial tasks a of SA_ta(F_a) (names self_attention.t.a)."""

    def __init__(self, tasks, initial, c):
        super().__init__()
        self.tasks, self.initial = tasks, initial
        self.self_attention = nn.ModuleDict({t: nn.ModuleDict({a: SABlock(c) for a in initial if a != t}) for t in tasks})

    def forward(self, f):
        out = {}
        for t in self.tasks:
            d = f[t]
            for a in self.initial:
                if a != t:
                    d = d + self.self_attention[t][a](f[a])
            out[t] = d
        return out


def projection(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)) if cin != cout else None


def bottlenecks(cin, cout):
    return nn.Sequential(Bottleneck(cin, cout // 4, downsample=projection(cin, cout)), Bottleneck(cout, cout // 4))


def basic_blocks(cin, cout):
    return nn.Sequential(BasicBlock(cin, cout, downsample=projection(cin, cout)), BasicBlock(cout, cout))


def up(x, like):
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class HRNetFuse(nn.Module):
    def __init__(self, channels):
        super().__init__()
        c = sum(channels)
        self.last_layer = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=False))

    def forward(self, x):
        return self.last_layer(torch.cat([x[0]] + [up(t, x[0]) for t in x[1:]], 1))


class InitialPredictions(nn.Module):
    def __init__(self, tasks, cin, c=256):
        super().__init__()
        self.tasks = tasks
        self.layers = nn.ModuleDict({t: bottlenecks(cin, c) for t in tasks})
        self.conv_out = nn.ModuleDict({t: nn.Conv2d(c, OUTPUTS[t], 1) for t in tasks})

    def forward(self, x):
        f = {t: self.layers[t](x) for t in self.tasks}
        return f, {t: self.conv_out[t](f[t]) for t in self.tasks}


class PADNet(nn.Module):
    """PAD-Net on HRNet-18 + fuse (densemtl's pad_net.cpp): initial predictions of every task,
    multi-modal distillation into the main tasks, two Bottlenecks and a 1x1 conv per main task."""

    def __init__(self, tasks, initial):
        super().__init__()
        self.tasks, self.initial = tasks, initial
        self.backbone = nn.Sequential(HRNetW18Small(), HRNetFuse([18, 36, 72, 144]))
        self.initial_task_prediction_heads = InitialPredictions(initial, 270)
        self.multi_modal_distillation = Distillation(tasks, initial, 256)
        self.heads = nn.ModuleDict({t: nn.Sequential(Bottleneck(256, 64), Bottleneck(256, 64), nn.Conv2d(256, OUTPUTS[t], 1))
                                    for t in tasks})

    def forward(self, x):
        f, p = self.initial_task_prediction_heads(self.backbone(x))
        out = {"initial_" + t: p[t] for t in self.initial}
        d = self.multi_modal_distillation(f)
        for t in self.tasks:
            out[t] = up(self.heads[t](d[t]), x)
        return out


class ScalePredictions(nn.Module):
    def __init__(self, tasks, cin, c):
        super().__init__()
        self.tasks = tasks
        self.refinement = nn.ModuleDict({t: basic_blocks(cin, c) for t in tasks})
        self.decoders = nn.ModuleDict({t: nn.Conv2d(c, OUTPUTS[t], 1) for t in tasks})

    def forward(self, x, previous=None):
        f = {t: self.refinement[t](x if previous is None else torch.cat([x, up(previous[t], x)], 1)) for t in self.tasks}
        return f, {t: self.decoders[t](f[t]) for t in self.tasks}


class FPM(nn.Module):
    """Feature propagation: the mask is a softmax over groups of N adjacent channels of f(concat),
    as the reference's view(B, C, N, H, W) of a task-major concatenation."""

    def __init__(self, tasks, c):
        super().__init__()
        self.tasks = tasks
        n = len(tasks) * c
        self.non_linear = nn.Sequential(BasicBlock(n, n // 4, downsample=projection(n, n // 4)), BasicBlock(n // 4, n // 4),
                                        nn.Conv2d(n // 4, n, 1))
        self.dimensionality_reduction = BasicBlock(n, c, downsample=projection(n, c))
        self.se = nn.ModuleDict({t: SEBlock(c) for t in tasks})

    def forward(self, f):
        concat = torch.cat([f[t] for t in self.tasks], 1)
        b, c, h, w = concat.shape
        n = len(self.tasks)
        mask = F.softmax(self.non_linear(concat).view(b, c // n, n, h, w), dim=2)
        shared = self.dimensionality_reduction((mask * concat.view(b, c // n, n, h, w)).view(b, c, h, w))
        return {t: self.se[t](shared) + f[t] for t in self.tasks}


class MTINet(nn.Module):
    """MTI-Net on HRNet-18 (densemtl's mti_net.cpp)."""

    def __init__(self, tasks, initial):
        super().__init__()
        self.tasks, self.initial = tasks, initial
        c = [18, 36, 72, 144]
        self.backbone = HRNetW18Small()
        for s in (3, 2, 1):
            setattr(self, "fpm_scale_%d" % s, FPM(initial, c[s]))
        for s in range(4):
            setattr(self, "scale_%d" % s, ScalePredictions(initial, c[s] + c[s + 1] if s < 3 else c[s], c[s]))
        for s in range(4):
            setattr(self, "distillation_scale_%d" % s, Distillation(tasks, initial, c[s]))
        self.heads = nn.ModuleDict({t: HRNetHead(c, OUTPUTS[t]) for t in tasks})

    def forward(self, x):
        feats = self.backbone(x)
        f, p = [None] * 4, [None] * 4
        propagated = None
        for s in (3, 2, 1, 0):
            f[s], p[s] = getattr(self, "scale_%d" % s)(feats[s], propagated)
            if s > 0:
                propagated = getattr(self, "fpm_scale_%d" % s)(f[s])
        out = {}
        for s in range(4):
            for t in self.initial:
                out["deep_supervision.scale_%d.%s" % (s, t)] = p[s][t]
                # The reference's scale modules return their refined features beside the predictions.
                out["deep_supervision.scale_%d.features_%s" % (s, t)] = f[s][t]
        d = [getattr(self, "distillation_scale_%d" % s)(f[s]) for s in range(4)]
        for t in self.tasks:
            out[t] = up(self.heads[t]([d[s][t] for s in range(4)]), x)
        return out


def build(name):
    if name == "mtan_r18":
        return MTAN(["semseg", "normals", "edge", "depth"])
    if name == "st_r18":
        return MultiTask(DilatedResNet18(), DeepLab, ["semseg"])
    if name == "mt_r18":
        return MultiTask(DilatedResNet18(), DeepLab, ["semseg", "normals", "edge", "depth"])
    if name == "mti_net":
        four = ["semseg", "normals", "edge", "depth"]
        return MTINet(four, four)
    if name == "pad_net":
        four = ["semseg", "normals", "edge", "depth"]
        return PADNet(four, four)
    if name == "mt_hrnet":
        return MultiTask(HRNetW18Small(), HRNetHead, ["semseg", "normals", "edge", "depth"])
    raise ValueError(name)


def losses(outputs, labels):
    """The reference's losses: CE (ignore 255), L1 on normalised normals, balanced BCE (0.95),
    L1 depth over valid pixels. Deep-supervision outputs ("initial_<t>",
    "deep_supervision.scale_<s>.<t>") are upsampled to the labels and add a term of their task."""
    total = {}
    for key, out in outputs.items():
        t = key.split(".")[-1].replace("initial_", "")
        y = labels[t]
        if out.shape[-2:] != y.shape[-2:]:
            out = F.interpolate(out, size=y.shape[-2:], mode="bilinear", align_corners=False)
        if t == "semseg":
            total[key] = F.nll_loss(F.log_softmax(out, 1), y[:, 0].long(), ignore_index=255)
        elif t == "normals":
            n = out / (out.norm(p=2, dim=1, keepdim=True) + 1e-12)
            valid = (y != 255).float()
            total[key] = ((n - y).abs() * valid).sum() / valid.sum()
        elif t == "edge":
            valid = (y != 255).float()
            pos = (y >= 0.5).float() * valid
            l = out.clamp(min=0) - out * pos + torch.log1p(torch.exp(-out.abs()))
            w = 0.95
            total[key] = (l * (pos * w + (valid - pos) * (1 - w))).sum() / valid.sum()
        elif t == "depth":
            valid = (y != 255).float()
            total[key] = ((out - y).abs() * valid).sum() / valid.sum()
    return total
