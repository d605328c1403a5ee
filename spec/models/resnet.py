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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..basic import (
    batch_norm,
    batch_norm_jvp,
    batch_norm_vjp,
    global_avg_pool,
    global_avg_pool_jvp,
    global_avg_pool_vjp,
    linear,
    linear_jvp,
    linear_vjp,
    relu,
    relu_jvp,
    relu_vjp,
    shortcut,
    shortcut_jvp,
    shortcut_vjp,
)
from ..conv import conv, conv_jvp, conv_vjp
from ..errors import ShapeError
from ..pool import max_pool, max_pool_jvp, max_pool_vjp
from ..shapes import ResNetConfig, resnet_spatial
from ._base import SpecModel

__all__ = [
    "Block",
    "Bottleneck",
    "ResNet",
    "ResidualBlock",
    "resnet_depth",
    "resnet_param_count",
]


# --------------------------------------------------------------------------------------
# One residual block, as a description plus three functions over a parameter dict
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
            raise ShapeError(f"bottleneck: outC/4 must be at least 1, got outC={out_c}",
                             rule="config_field")
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

    # forward --------------------------------------------------------------------------
    def intermediates(self, p, x):
        """Every value the backward needs: unit inputs, conv outputs, BN outputs, the sum."""
        q, v = self.prefix, {"x": x, "units": []}
        h = x
        for i, (_, _, _, pad) in enumerate(self.units, start=1):
            z = conv(h, p[f"{q}conv{i}.weight"], p[f"{q}conv{i}.bias"], stride=1, padding=pad)
            a = batch_norm(z, p[f"{q}bn{i}.weight"], p[f"{q}bn{i}.bias"])
            v["units"].append((h, z, a))
            h = a if i == len(self.units) else relu(a)
        if self.projection:
            v["sc_conv"] = conv(x, p[f"{q}shortcut.weight"], p[f"{q}shortcut.bias"])
            s = batch_norm(v["sc_conv"], p[f"{q}shortcut_bn.weight"], p[f"{q}shortcut_bn.bias"])
        else:
            s = shortcut(x, self.out_c)
        v["sum"] = h + s
        v["y"] = relu(v["sum"])
        return v

    def forward(self, p, x):
        return self.intermediates(p, x)["y"]

    # reverse --------------------------------------------------------------------------
    def vjp(self, p, x, grad_y, grads: dict):
        """Fill ``grads`` with this block's parameter gradients; return ``grad_x``.

        The gradient at the sum goes to both branches unchanged; the two input gradients add.
        """
        q, v = self.prefix, self.intermediates(p, x)
        g_sum = relu_vjp(v["sum"], grad_y)
        g = g_sum
        for i in range(len(self.units), 0, -1):
            h, z, a = v["units"][i - 1]
            if i < len(self.units):
                g = relu_vjp(a, g)
            grads[f"{q}bn{i}.weight"], grads[f"{q}bn{i}.bias"], g = batch_norm_vjp(
                z, p[f"{q}bn{i}.weight"], p[f"{q}bn{i}.bias"], g)
            grads[f"{q}conv{i}.weight"], grads[f"{q}conv{i}.bias"], g = conv_vjp(
                h, p[f"{q}conv{i}.weight"], p[f"{q}conv{i}.bias"], g, stride=1,
                padding=self.units[i - 1][3])
        if self.projection:
            grads[f"{q}shortcut_bn.weight"], grads[f"{q}shortcut_bn.bias"], g_s = batch_norm_vjp(
                v["sc_conv"], p[f"{q}shortcut_bn.weight"], p[f"{q}shortcut_bn.bias"], g_sum)
            grads[f"{q}shortcut.weight"], grads[f"{q}shortcut.bias"], g_x = conv_vjp(
                x, p[f"{q}shortcut.weight"], p[f"{q}shortcut.bias"], g_s)
        else:
            g_x = shortcut_vjp(x, self.out_c, g_sum)
        return g + g_x

    # forward mode ---------------------------------------------------------------------
    def jvp(self, p, d, x, dx):
        """The block's output tangent along ``dx`` and the parameter tangents ``d``."""
        q, v = self.prefix, self.intermediates(p, x)
        t = dx
        for i, (h, z, a) in enumerate(v["units"], start=1):
            t = conv_jvp(h, p[f"{q}conv{i}.weight"], p[f"{q}conv{i}.bias"], t,
                         d[f"{q}conv{i}.weight"], d[f"{q}conv{i}.bias"], stride=1,
                         padding=self.units[i - 1][3])
            t = batch_norm_jvp(z, p[f"{q}bn{i}.weight"], p[f"{q}bn{i}.bias"], t,
                               d[f"{q}bn{i}.weight"], d[f"{q}bn{i}.bias"])
            if i < len(self.units):
                t = relu_jvp(a, t)
        if self.projection:
            t_s = conv_jvp(x, p[f"{q}shortcut.weight"], p[f"{q}shortcut.bias"], dx,
                           d[f"{q}shortcut.weight"], d[f"{q}shortcut.bias"])
            t_s = batch_norm_jvp(v["sc_conv"], p[f"{q}shortcut_bn.weight"],
                                 p[f"{q}shortcut_bn.bias"], t_s, d[f"{q}shortcut_bn.weight"],
                                 d[f"{q}shortcut_bn.bias"])
        else:
            t_s = shortcut_jvp(x, self.out_c, dx)
        return relu_jvp(v["sum"], t + t_s)


def _positive(owner: str, **values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ShapeError(f"{owner}: {name} must be a positive integer, got {value!r}",
                             rule="positive_size")


class ResidualBlock(SpecModel):
    """One residual block as a model on ``(inC, H, W)`` inputs of any size ``H, W >= 1``.

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
        _positive(type(self).__name__, in_c=in_c, out_c=out_c)
        if kind not in ("basic", "bottleneck"):
            raise ShapeError(f"ResidualBlock: kind must be 'basic' or 'bottleneck', got "
                             f"{kind!r}", rule="config_field")
        self.block = getattr(Block, kind)("", in_c, out_c, bool(projection))
        self.input_shape = (in_c, None, None)
        self._init_params(self.block.param_table(), seed, dtype)

    def forward(self, x, params=None):
        """``relu(main(x) + shortcut(x))``, shape ``(outC, H, W)``."""
        return self.block.forward(self._params(params), self._check_input("x", x))

    def vjp(self, x, grad_y, params=None):
        """``(grads, grad_x)`` by the block's explicit backward."""
        grads = {}
        g = self.block.vjp(self._params(params), self._check_input("x", x), grad_y, grads)
        return grads, g

    def jvp(self, x, dx, dparams=None, params=None):
        """The output tangent along ``(dx, dparams)``."""
        return self.block.jvp(self._params(params), self._tangents(dparams),
                              self._check_input("x", x), self._check_input("dx", dx))


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
    blocks, in_c = [], cfg.stem_out_channels
    for i, (out_c, count) in enumerate(cfg.stages, start=1):
        if count < 1:
            raise ShapeError(f"ResNet: stage{i}_blocks must be at least 1 (a stage is a first "
                             f"block plus the rest), got {count}", rule="config_field")
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
    return 1 + sum(count for _, count in cfg.stages) + 1


def resnet_param_count(cfg: ResNetConfig, in_c: int = 3, num_classes: int = 1000) -> int:
    """The number of scalar parameters, from the config alone.

    ``stem: C0*inC*k*k + C0 (conv) + 2*C0 (BN)``; per basic block ``cin -> c``:
    ``(c*cin*9 + c) + 2c + (c*c*9 + c) + 2c``, plus ``c*cin + c + 2c`` for a projection;
    head ``classes*C4 + classes``. It equals PyTorch's ``sum(p.numel())`` for the equivalent
    module (convs with bias, BN affine).
    """
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
        padding; stages 64/128/256/512 with 2 blocks each; fallback shortcuts).
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
            raise ShapeError(f"ResNet: cfg must be a ResNetConfig, got {type(cfg).__name__}",
                             rule="config_type")
        _positive("ResNet", in_c=in_c, num_classes=num_classes)
        zero = [n for n in ("stem_out_channels", "stem_kernel", "stem_stride", "pool_kernel",
                            "pool_stride", "stage1_out_channels", "stage2_out_channels",
                            "stage3_out_channels", "stage4_out_channels")
                if getattr(cfg, n) == 0]
        if zero:
            raise ShapeError(f"ResNet: ResNetConfig.WF needs {zero} nonzero", rule="config_wf")
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
                    f"in{axis} = {n}: {lean} vs {torch_chain}", rule="lean_torch_divergence")
            out[axis] = lean
        return out

    def _checked(self, name, x):
        x = self._check_input(name, x)
        self.spatial(x.shape[1], x.shape[2])
        return x

    def _stem_args(self):
        return {"stride": self.cfg.stem_stride, "padding": self.cfg.stem_padding}

    def _pool_args(self):
        return {"kernel": self.cfg.pool_kernel, "stride": self.cfg.pool_stride}

    def _intermediates(self, x, p):
        v = {"x": x}
        v["stem"] = conv(x, p["stem.weight"], p["stem.bias"], **self._stem_args())
        v["bn"] = batch_norm(v["stem"], p["bn.weight"], p["bn.bias"])
        v["relu"] = relu(v["bn"])
        h = max_pool(v["relu"], **self._pool_args())
        v["block_inputs"] = []
        for block in self.blocks:
            v["block_inputs"].append(h)
            h = block.forward(p, h)
        v["features"] = h
        v["pooled"] = global_avg_pool(h)
        v["y"] = linear(v["pooled"], p["fc.weight"], p["fc.bias"])
        return v

    def forward(self, x, params=None):
        """The class scores, shape ``(num_classes,)``."""
        return self._intermediates(self._checked("x", x), self._params(params))["y"]

    def vjp(self, x, grad_y, params=None):
        """``(grads, grad_x)``: classifier, pool, blocks in reverse, max pool, ReLU, BN, stem."""
        p = self._params(params)
        v = self._intermediates(self._checked("x", x), p)
        grads = {}
        grads["fc.weight"], grads["fc.bias"], g = linear_vjp(
            v["pooled"], p["fc.weight"], p["fc.bias"], grad_y)
        g = global_avg_pool_vjp(v["features"], g)
        for block, h in zip(reversed(self.blocks), reversed(v["block_inputs"]), strict=True):
            g = block.vjp(p, h, g, grads)
        g = max_pool_vjp(v["relu"], g, **self._pool_args())
        g = relu_vjp(v["bn"], g)
        grads["bn.weight"], grads["bn.bias"], g = batch_norm_vjp(
            v["stem"], p["bn.weight"], p["bn.bias"], g)
        grads["stem.weight"], grads["stem.bias"], g = conv_vjp(
            x, p["stem.weight"], p["stem.bias"], g, **self._stem_args())
        return grads, g

    def jvp(self, x, dx, dparams=None, params=None):
        """The output tangent along ``(dx, dparams)``."""
        p, d = self._params(params), self._tangents(dparams)
        v = self._intermediates(self._checked("x", x), p)
        t = conv_jvp(x, p["stem.weight"], p["stem.bias"], self._check_input("dx", dx),
                     d["stem.weight"], d["stem.bias"], **self._stem_args())
        t = batch_norm_jvp(v["stem"], p["bn.weight"], p["bn.bias"], t, d["bn.weight"],
                           d["bn.bias"])
        t = relu_jvp(v["bn"], t)
        t = max_pool_jvp(v["relu"], t, **self._pool_args())
        for block, h in zip(self.blocks, v["block_inputs"], strict=True):
            t = block.jvp(p, d, h, t)
        t = global_avg_pool_jvp(v["features"], t)
        return linear_jvp(v["pooled"], p["fc.weight"], p["fc.bias"], t, d["fc.weight"],
                          d["fc.bias"])
