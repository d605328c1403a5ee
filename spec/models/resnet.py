"""TorchLean's ResNet-18-like spec, its basic block and the bottleneck block, with vjp and jvp.

Basic block: ``y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, 3x3 convs of
stride 1 and padding 1 (blocks never downsample). Bottleneck block (ResNet-50 style,
forward-only in TorchLean, here with vjp and jvp too):
``y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))`` with a 1x1
conv ``inC -> outC/4``, a 3x3 conv (padding 1) and a 1x1 conv ``outC/4 -> outC``.

The shortcut is a 1x1 projection conv followed by BN when the block has one; otherwise
TorchLean's fallback: identity, zero channels (``inC < outC``) or the first ``outC`` channels
(``inC > outC``). BN normalises one image per channel (biased variance, ``eps = 1e-6``).

ResNet: ``conv stem -> BN -> ReLU -> max pool (no padding) -> 4 stages of basic blocks ->
global average pool -> linear``; sizes from :func:`nnbridge.spec.shapes.resnet_spatial`.
A batch norm over a single spatial element (a 1x1 block input, or a stem or pool of 1x1) is
refused: TorchLean gives ``beta`` there, PyTorch raises.

Each forward is written once (:meth:`Block.graph`, :meth:`ResNet.graph`) and read on arrays
and on a tape; the hand-written backward and forward mode read the array values it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..basic import (
    batch_norm_jvp,
    batch_norm_vjp,
    global_avg_pool_jvp,
    global_avg_pool_vjp,
    linear_jvp,
    linear_vjp,
    relu_jvp,
    relu_vjp,
    shortcut_jvp,
    shortcut_vjp,
)
from ..convolution import conv_jvp, conv_vjp
from ..errors import Rule, ShapeError
from ..pool import max_pool_jvp, max_pool_vjp
from ..shapes import ResNetConfig, resnet_spatial
from ._base import SpecModel, positive_sizes
from .configs import well_formed
from .executor import BN_EPS

__all__ = [
    "Block",
    "Bottleneck",
    "ResNet",
    "ResidualBlock",
    "resnet_depth",
    "resnet_param_count",
]


# --------------------------------------------------------------------------------------
# One residual block: its wiring, its forward once, its hand-written vjp and jvp
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A residual block's wiring: its main-path units and its shortcut.

    ``units`` lists ``(in_channels, out_channels, kernel, padding)`` of each conv + BN unit
    (ReLU between units, not after the last); ``projection`` says whether the shortcut is a
    1x1 conv + BN. Parameter names start with ``prefix``: ``conv{i}.weight``,
    ``conv{i}.bias``, ``bn{i}.weight`` (gamma), ``bn{i}.bias`` (beta), ``shortcut.*`` and
    ``shortcut_bn.*``.
    """

    prefix: str
    in_c: int
    out_c: int
    units: tuple[tuple[int, int, int, int], ...]
    projection: bool = False

    @classmethod
    def basic(cls, prefix: str, in_c: int, out_c: int, projection: bool = False) -> Block:
        """Two 3x3 units (the ResNet-18/34 block)."""
        return cls(prefix, in_c, out_c, ((in_c, out_c, 3, 1), (out_c, out_c, 3, 1)), projection)

    @classmethod
    def bottleneck(cls, prefix: str, in_c: int, out_c: int,
                   projection: bool = False) -> Block:
        """1x1 ``inC -> outC/4``, 3x3 ``outC/4 -> outC/4``, 1x1 ``outC/4 -> outC``."""
        width = out_c // 4
        if width < 1:
            raise ShapeError(Rule.CONFIG_FIELD, op="Bottleneck", name="out_c",
                             detail=f"the width outC/4 must be at least 1, got out_c={out_c}")
        return cls(prefix, in_c, out_c,
                   ((in_c, width, 1, 0), (width, width, 3, 1), (width, out_c, 1, 0)), projection)

    def param_table(self) -> dict:
        table = {}
        for i, (cin, cout, k, _) in enumerate(self.units, start=1):
            table[f"{self.prefix}conv{i}.weight"] = ((cout, cin, k, k), "weight")
            table[f"{self.prefix}conv{i}.bias"] = ((cout,), "bias")
            table[f"{self.prefix}bn{i}.weight"] = ((cout,), "gamma")
            table[f"{self.prefix}bn{i}.bias"] = ((cout,), "beta")
        if self.projection:
            table[f"{self.prefix}shortcut.weight"] = ((self.out_c, self.in_c, 1, 1), "weight")
            table[f"{self.prefix}shortcut.bias"] = ((self.out_c,), "bias")
            table[f"{self.prefix}shortcut_bn.weight"] = ((self.out_c,), "gamma")
            table[f"{self.prefix}shortcut_bn.bias"] = ((self.out_c,), "beta")
        return table

    # the forward, once ------------------------------------------------------------------
    def graph(self, ex, p, x) -> dict:
        """``relu(main(x) + shortcut(x))``; ``v["units"]`` holds each unit's
        ``(input, conv output, BN output)``, ``v["sc_conv"]`` the projection's conv output."""
        q, v = self.prefix, {"x": x, "units": []}
        h = x
        for i, (_, _, _, pad) in enumerate(self.units, start=1):
            z = ex.conv(p[f"{q}conv{i}.weight"], p[f"{q}conv{i}.bias"], h, stride=1,
                        padding=pad)
            a = ex.batch_norm(p[f"{q}bn{i}.weight"], p[f"{q}bn{i}.bias"], z, eps=BN_EPS)
            v["units"].append((h, z, a))
            h = a if i == len(self.units) else ex.relu(a)
        if self.projection:
            v["sc_conv"] = ex.conv(p[f"{q}shortcut.weight"], p[f"{q}shortcut.bias"], x,
                                   stride=1, padding=0)
            s = ex.batch_norm(p[f"{q}shortcut_bn.weight"], p[f"{q}shortcut_bn.bias"],
                              v["sc_conv"], eps=BN_EPS)
        else:
            s = ex.shortcut(x, out_channels=self.out_c)
        v["sum"] = ex.add(h, s)
        v["y"] = ex.relu(v["sum"])
        return v

    # reverse ----------------------------------------------------------------------------
    def backward(self, v, p, grad_y, grads: dict):
        """Fill ``grads`` with this block's parameter gradients; return ``grad_x``.

        ``v`` is the array reading of :meth:`graph`. The gradient at the sum goes to both
        branches unchanged; the two input gradients add.
        """
        q, x = self.prefix, v["x"]
        g_sum = relu_vjp(v["sum"], grad_y)
        g = g_sum
        for i in range(len(self.units), 0, -1):
            h, z, a = v["units"][i - 1]
            if i < len(self.units):
                g = relu_vjp(a, g)
            grads[f"{q}bn{i}.weight"], grads[f"{q}bn{i}.bias"], g = batch_norm_vjp(
                z, p[f"{q}bn{i}.weight"], p[f"{q}bn{i}.bias"], g, BN_EPS)
            grads[f"{q}conv{i}.weight"], grads[f"{q}conv{i}.bias"], g = conv_vjp(
                h, p[f"{q}conv{i}.weight"], p[f"{q}conv{i}.bias"], g, stride=1,
                padding=self.units[i - 1][3])
        if self.projection:
            grads[f"{q}shortcut_bn.weight"], grads[f"{q}shortcut_bn.bias"], g_s = batch_norm_vjp(
                v["sc_conv"], p[f"{q}shortcut_bn.weight"], p[f"{q}shortcut_bn.bias"], g_sum,
                BN_EPS)
            grads[f"{q}shortcut.weight"], grads[f"{q}shortcut.bias"], g_x = conv_vjp(
                x, p[f"{q}shortcut.weight"], p[f"{q}shortcut.bias"], g_s)
        else:
            g_x = shortcut_vjp(x, self.out_c, g_sum)
        return g + g_x

    # forward mode -----------------------------------------------------------------------
    def forward_tangent(self, v, p, d, dx):
        """The block's output tangent along ``dx`` and the parameter tangents ``d``."""
        q, x = self.prefix, v["x"]
        t = dx
        for i, (h, z, a) in enumerate(v["units"], start=1):
            t = conv_jvp(h, p[f"{q}conv{i}.weight"], p[f"{q}conv{i}.bias"], t,
                         d[f"{q}conv{i}.weight"], d[f"{q}conv{i}.bias"], stride=1,
                         padding=self.units[i - 1][3])
            t = batch_norm_jvp(z, p[f"{q}bn{i}.weight"], p[f"{q}bn{i}.bias"], t,
                               d[f"{q}bn{i}.weight"], d[f"{q}bn{i}.bias"], BN_EPS)
            if i < len(self.units):
                t = relu_jvp(a, t)
        if self.projection:
            t_s = conv_jvp(x, p[f"{q}shortcut.weight"], p[f"{q}shortcut.bias"], dx,
                           d[f"{q}shortcut.weight"], d[f"{q}shortcut.bias"])
            t_s = batch_norm_jvp(v["sc_conv"], p[f"{q}shortcut_bn.weight"],
                                 p[f"{q}shortcut_bn.bias"], t_s, d[f"{q}shortcut_bn.weight"],
                                 d[f"{q}shortcut_bn.bias"], BN_EPS)
        else:
            t_s = shortcut_jvp(x, self.out_c, dx)
        return relu_jvp(v["sum"], t + t_s)


def _one_element_norm(owner: str, where: str, h: int, w: int) -> None:
    """PyTorch's batch norm in training refuses one value per channel; TorchLean's gives
    ``beta`` there (zero variance). The models refuse that size rather than pick one."""
    if h * w == 1:
        raise ShapeError(
            f"{owner}: the batch norm {where} would normalise a single spatial element "
            f"({h}x{w}): TorchLean gives beta, PyTorch refuses ('Expected more than 1 value "
            "per channel when training')", rule=Rule.LEAN_TORCH_DIVERGENCE)


class ResidualBlock(SpecModel):
    """One residual block as a model on ``(inC, H, W)`` inputs of any size with ``H*W >= 2``.

    ``y = relu(main(x) + shortcut(x))``; see :class:`Block` for the wiring.

    Parameters
    ----------
    in_c, out_c : int
    kind : ``"basic"`` or ``"bottleneck"``
    projection : bool
        A 1x1 conv + BN shortcut instead of the identity / pad / slice fallback.
    seed : int
    dtype : float32 or float64
    """

    def __init__(self, in_c: int, out_c: int, *, kind: str = "basic", projection: bool = False,
                 seed: int = 0, dtype=np.float64):
        owner = type(self).__name__
        sizes = positive_sizes(owner, in_c=in_c, out_c=out_c)
        if kind not in ("basic", "bottleneck"):
            raise ShapeError(Rule.CONFIG_FIELD, op=owner, name="kind",
                             detail=f"must be 'basic' or 'bottleneck', got {kind!r}")
        if not isinstance(projection, bool):
            raise ShapeError(Rule.CONFIG_FIELD, op=owner, name="projection",
                             detail=f"must be a bool, got {projection!r}")
        build = Block.basic if kind == "basic" else Block.bottleneck
        self.block = build("", sizes["in_c"], sizes["out_c"], projection)
        self.input_shape = (sizes["in_c"], None, None)
        self._init_params(self.block.param_table(), seed, dtype)

    def _check_size(self, x):
        _one_element_norm(type(self).__name__, "of every unit", x.shape[1], x.shape[2])

    def graph(self, ex, p, x) -> dict:
        """``relu(main(x) + shortcut(x))``, shape ``(outC, H, W)``."""
        return self.block.graph(ex, p, x)

    def _backward(self, v, p, grad_y, grads):
        return self.block.backward(v, p, grad_y, grads)

    def _forward_tangent(self, v, p, d, dx):
        return self.block.forward_tangent(v, p, d, dx)


class Bottleneck(ResidualBlock):
    """The bottleneck block (1x1, 3x3, 1x1, width ``outC/4``) with forward, vjp and jvp.

    TorchLean defines its forward only; the vjp here is the blocks' common explicit
    backward, checked against the tape, PyTorch and the adjoint identity.
    """

    def __init__(self, in_c: int, out_c: int, *, projection: bool = False, seed: int = 0,
                 dtype=np.float64):
        super().__init__(in_c, out_c, kind="bottleneck", projection=projection, seed=seed,
                         dtype=dtype)


# --------------------------------------------------------------------------------------
# The ResNet
# --------------------------------------------------------------------------------------
def _resnet_blocks(cfg: ResNetConfig) -> list[Block]:
    """The basic blocks of a well-formed config, stage by stage."""
    blocks, in_c = [], cfg.stem_out_channels
    for i, (out_c, count) in enumerate(cfg.stages, start=1):
        for j in range(count):
            projection = cfg.use_projection_shortcuts and j == 0 and in_c != out_c
            blocks.append(Block.basic(f"layer{i}.{j}.", in_c, out_c, projection))
            in_c = out_c
    return blocks


def resnet_depth(cfg: ResNetConfig) -> int:
    """TorchLean's depth metadata: ``1 (stem) + sum(stage blocks) + 1 (head)``.

    10 for ``resnet18Config``; the weight-layer count that names ResNet-18 is
    ``1 + 2 * blocks + 1`` = 18 (:attr:`ResNet.weight_layers`).
    """
    well_formed(cfg, "resnet_depth")
    return 1 + sum(count for _, count in cfg.stages) + 1


def resnet_param_count(cfg: ResNetConfig, in_c: int = 3, num_classes: int = 1000) -> int:
    """The number of scalar parameters, from the config alone.

    ``stem: C0*inC*k*k + C0 (conv) + 2*C0 (BN)``; per basic block ``cin -> c``:
    ``(c*cin*9 + c) + 2c + (c*c*9 + c) + 2c``, plus ``c*cin + c + 2c`` for a projection;
    head ``classes*C4 + classes``. It equals PyTorch's ``sum(p.numel())`` for the equivalent
    module (convs with bias, BN affine).
    """
    well_formed(cfg, "resnet_param_count")
    sizes = positive_sizes("resnet_param_count", in_c=in_c, num_classes=num_classes)
    in_c, num_classes = sizes["in_c"], sizes["num_classes"]
    c0, k = cfg.stem_out_channels, cfg.stem_kernel
    total = c0 * in_c * k * k + c0 + 2 * c0
    for block in _resnet_blocks(cfg):
        cin, c = block.in_c, block.out_c
        total += (c * cin * 9 + c) + 2 * c + (c * c * 9 + c) + 2 * c
        if block.projection:
            total += c * cin + c + 2 * c
    return total + num_classes * cfg.stage4_out_channels + num_classes


class ResNet(SpecModel):
    """TorchLean's ResNet-18-like spec on ``(inC, H, W)`` inputs.

    ``y = fc(global_avg_pool(layer4(...layer1(max_pool(relu(bn(stem(x))))))))``

    Parameters
    ----------
    cfg : ResNetConfig
        ``resnet18Config`` by default (stem 64, 7x7 stride 2 padding 3; pool 3/2 without
        padding; stages 64/128/256/512 with 2 blocks each; fallback shortcuts). Checked by
        :func:`~nnbridge.spec.models.configs.well_formed` (TorchLean's ``WF``).
    in_c, num_classes : int
    seed : int
        Parameters ``stem.*``, ``bn.*``, ``layer{i}.{j}.*`` (see :class:`Block`) and
        ``fc.*`` are drawn from it.
    dtype : float32 or float64
    """

    def __init__(self, cfg: ResNetConfig | None = None, in_c: int = 3, num_classes: int = 10,
                 *, seed: int = 0, dtype=np.float64):
        cfg = ResNetConfig() if cfg is None else cfg
        if not isinstance(cfg, ResNetConfig):
            raise ShapeError(Rule.CONFIG_TYPE, op="ResNet", expected="a ResNetConfig",
                             got=type(cfg).__name__)
        sizes = positive_sizes("ResNet", in_c=in_c, num_classes=num_classes)
        in_c, num_classes = sizes["in_c"], sizes["num_classes"]
        well_formed(cfg, "ResNet")
        self.cfg, self.in_c, self.num_classes = cfg, in_c, num_classes
        self.blocks = _resnet_blocks(cfg)
        self.input_shape = (in_c, None, None)
        k, c0 = cfg.stem_kernel, cfg.stem_out_channels
        table = {"stem.weight": ((c0, in_c, k, k), "weight"), "stem.bias": ((c0,), "bias"),
                 "bn.weight": ((c0,), "gamma"), "bn.bias": ((c0,), "beta")}
        for block in self.blocks:
            table.update(block.param_table())
        table["fc.weight"] = ((num_classes, cfg.stage4_out_channels), "weight")
        table["fc.bias"] = ((num_classes,), "bias")
        self._init_params(table, seed, dtype)

    @property
    def depth(self) -> int:
        """TorchLean's depth metadata: stem + each block + head (:func:`resnet_depth`)."""
        return resnet_depth(self.cfg)

    @property
    def weight_layers(self) -> int:
        """Convs on the main path plus the classifier: 18 for ``resnet18Config``."""
        return 1 + sum(len(b.units) for b in self.blocks) + 1

    def spatial(self, h: int, w: int) -> dict:
        """The spatial chain per axis (``resnet_spatial``), checked against PyTorch's."""
        out = {}
        for axis, n in (("H", h), ("W", w)):
            lean = resnet_spatial(self.cfg, n)
            torch_chain = resnet_spatial(self.cfg, n, semantics="torch")
            if lean != torch_chain:
                raise ShapeError(
                    f"ResNet: Lean's Nat sizes and PyTorch's disagree on axis {axis} for "
                    f"in{axis} = {n}: {lean} vs {torch_chain}",
                    rule=Rule.LEAN_TORCH_DIVERGENCE)
            out[axis] = lean
        return out

    def _check_size(self, x):
        chain = self.spatial(x.shape[1], x.shape[2])
        _one_element_norm("ResNet", "after the stem", chain["H"]["stem"], chain["W"]["stem"])
        _one_element_norm("ResNet", "of every block", chain["H"]["pool"], chain["W"]["pool"])

    def _stem_args(self):
        return {"stride": self.cfg.stem_stride, "padding": self.cfg.stem_padding}

    def _pool_args(self):
        return {"kernel": self.cfg.pool_kernel, "stride": self.cfg.pool_stride}

    # the forward, once ------------------------------------------------------------------
    def graph(self, ex, p, x) -> dict:
        """The class scores, shape ``(num_classes,)``; ``v["blocks"]`` holds each block's
        values."""
        v = {"x": x}
        v["stem"] = ex.conv(p["stem.weight"], p["stem.bias"], x, **self._stem_args())
        v["bn"] = ex.batch_norm(p["bn.weight"], p["bn.bias"], v["stem"], eps=BN_EPS)
        v["relu"] = ex.relu(v["bn"])
        h = ex.max_pool(v["relu"], **self._pool_args())
        v["blocks"] = []
        for block in self.blocks:
            v["blocks"].append(block.graph(ex, p, h))
            h = v["blocks"][-1]["y"]
        v["features"] = h
        v["pooled"] = ex.global_avg_pool(h)
        v["y"] = ex.linear(p["fc.weight"], p["fc.bias"], v["pooled"])
        return v

    # the hand-written backward and forward mode ------------------------------------------
    def _backward(self, v, p, grad_y, grads):
        """Classifier, pool, blocks in reverse, max pool, ReLU, BN, stem."""
        grads["fc.weight"], grads["fc.bias"], g = linear_vjp(
            v["pooled"], p["fc.weight"], p["fc.bias"], grad_y)
        g = global_avg_pool_vjp(v["features"], g)
        for block, bv in zip(reversed(self.blocks), reversed(v["blocks"]), strict=True):
            g = block.backward(bv, p, g, grads)
        g = max_pool_vjp(v["relu"], g, **self._pool_args())
        g = relu_vjp(v["bn"], g)
        grads["bn.weight"], grads["bn.bias"], g = batch_norm_vjp(
            v["stem"], p["bn.weight"], p["bn.bias"], g, BN_EPS)
        grads["stem.weight"], grads["stem.bias"], g = conv_vjp(
            v["x"], p["stem.weight"], p["stem.bias"], g, **self._stem_args())
        return g

    def _forward_tangent(self, v, p, d, dx):
        """The output tangent along ``(dx, d)``."""
        t = conv_jvp(v["x"], p["stem.weight"], p["stem.bias"], dx, d["stem.weight"],
                     d["stem.bias"], **self._stem_args())
        t = batch_norm_jvp(v["stem"], p["bn.weight"], p["bn.bias"], t, d["bn.weight"],
                           d["bn.bias"], BN_EPS)
        t = relu_jvp(v["bn"], t)
        t = max_pool_jvp(v["relu"], t, **self._pool_args())
        for block, bv in zip(self.blocks, v["blocks"], strict=True):
            t = block.forward_tangent(bv, p, d, t)
        t = global_avg_pool_jvp(v["features"], t)
        return linear_jvp(v["pooled"], p["fc.weight"], p["fc.bias"], t, d["fc.weight"],
                          d["fc.bias"])
