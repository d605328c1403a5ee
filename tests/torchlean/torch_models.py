"""PyTorch modules for the TorchLean tests (factories named on the command line as
``tests/torchlean/torch_models.py:NAME``)."""

import torch
import torch.nn.functional as F
from torch import nn


def example():
    """The reference's example: Conv2d(3,4,3,padding=1) -> ReLU -> max_pool2d(2,2) ->
    flatten -> Linear(100,10)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Flatten(), nn.Linear(100, 10))


class TorchMLP(nn.Module):
    """TorchLean's PyTorch MLP: ``layers.0`` and ``layers.2``."""

    def __init__(self, i=2, h=3, o=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))

    def forward(self, x):
        return self.layers(x)


def mlp():
    torch.manual_seed(1)
    return TorchMLP()


class TorchCNN2(nn.Module):
    """TorchLean's CNN2: one C for both convolutions and the classes."""

    def __init__(self, c_in=1, c=2, feat=8, k=3):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, k, padding=1)
        self.conv2 = nn.Conv2d(c, c, k, padding=1)
        self.fc = nn.Linear(feat, c)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        return self.fc(x.flatten(1))


def cnn2():
    torch.manual_seed(2)
    return TorchCNN2()


class Mixed(nn.Module):
    """Many of the ops the exporter maps: batch norm, padded pools, broadcasting by a
    parameter, cat, view/transpose, scalars, layer norm with an affine, softmax, a
    reduction with keepdim."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(32, 10)
        self.ln = nn.LayerNorm(10)
        self.scale = nn.Parameter(torch.randn(4, 1, 1))

    def forward(self, x):
        y = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2, padding=1)
        y = F.avg_pool2d(y * self.scale, 3)
        y = torch.cat([y.flatten(1), y.flatten(1)], dim=1)
        y = y.view(1, 4, 8).transpose(1, 2).reshape(1, 32)
        z = self.fc(y)
        z = torch.sigmoid(z) + torch.tanh(z) * z - z.exp() + 0.5 - z.neg()
        z = self.ln(z).softmax(-1)
        return torch.maximum(z, 1 - z).sum(-1, keepdim=True)


def mixed():
    torch.manual_seed(3)
    m = Mixed()
    with torch.no_grad():
        m.bn.running_mean.normal_()
        m.bn.running_var.uniform_(0.5, 2.0)
        m.ln.weight.normal_()
        m.ln.bias.normal_()
    return m


class Expand(nn.Module):
    """``expand`` (a broadcast, never ``exp``) and a matmul with a parameter."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 3))

    def forward(self, x):
        return (x @ self.w) + x.sum(-1, keepdim=True).expand(1, 4, 3)


def expand():
    torch.manual_seed(4)
    return Expand()


class _Apply(nn.Module):
    def __init__(self, fn, module=None):
        super().__init__()
        self.fn, self.inner = fn, module

    def forward(self, x):
        return self.fn(self, x)


def dilated():
    return nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2))


def grouped():
    return nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))


def ceil_pool():
    return nn.Sequential(nn.MaxPool2d(2, ceil_mode=True))


def same_padding():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"))


def divides():
    return _Apply(lambda self, x: x / 2)


def adaptive():
    return nn.Sequential(nn.AdaptiveAvgPool2d(2))


class Head(nn.Module):
    """A classifier head as ResNets end: global average pool, SiLU, leaky ReLU, linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        y = F.silu(self.conv(x))
        y = F.leaky_relu(self.pool(y).flatten(1), 0.1)
        return self.fc(y)


def head():
    torch.manual_seed(5)
    return Head()


def log_softmax():
    return _Apply(lambda self, x: F.log_softmax(x, dim=-1))


def sinh():
    return _Apply(lambda self, x: torch.sinh(x))


def strided_unevenly():
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=(1, 2)))


def batch_softmax():
    return _Apply(lambda self, x: x.softmax(0))


def two_outputs():
    return _Apply(lambda self, x: (x.relu(), x.tanh()))
