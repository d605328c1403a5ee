"""TorchLean's 2-level U-Net (``UNet2Spec``) with forward, explicit vjp, and jvp.

``skip = relu(down1_2(relu(down1_1(x))))``
``low = relu(down2_2(relu(down2_1(max_pool(skip)))))``
``y = head(relu(up1_2(relu(up1_1(concat(skip, up(low)))))))``

``up`` is a transposed convolution (kernel ``(2*baseC, baseC, k, k)``), the concat puts the
skip FIRST, and the head has no ReLU. The forward is written once, :meth:`UNet2.graph`,
and read on arrays and on a tape. Before any arithmetic, every call (``forward``, ``vjp``,
``jvp``, a tape recording) checks the eight ``h_*`` hypotheses of ``UNet2Spec.forward``
(:func:`nnbridge.spec.shapes.unet2_obligations`) and raises a :class:`ShapeError` naming
every failing one with its values.
"""

from __future__ import annotations

import numpy as np

from ..basic import concat_jvp, concat_vjp, relu_jvp, relu_vjp
from ..checks import integer
from ..convolution import conv_jvp, conv_transpose_jvp, conv_transpose_vjp, conv_vjp
from ..errors import Rule, ShapeError
from ..pool import max_pool_jvp, max_pool_vjp
from ..shapes import UNET2_OBLIGATIONS, UNet2Config, conv_out, unet2_obligations, unet_down
from ._base import SpecModel, positive_sizes
from .configs import well_formed

__all__ = ["CONV_LAYERS", "UNet2", "check_unet2_obligations"]

#: The convolutions with a ReLU after them, in forward order: (name, input channels as a
#: multiple of baseC or "in", output channels likewise).
CONV_LAYERS = (("down1_1", "in", 1), ("down1_2", 1, 1), ("down2_1", 1, 2), ("down2_2", 2, 2),
               ("up1_1", 2, 1), ("up1_2", 1, 1))


def _obligation_sides(cfg: UNet2Config, name: str, n: int) -> tuple[int, int]:
    """The (left, right) sides of obligation ``name`` at size ``n`` (Lean's Nat reading)."""
    if name in ("h_convH_down", "h_convW_down"):
        down = unet_down(cfg, n)
        return conv_out(down, cfg.conv_kernel, cfg.conv_stride, cfg.conv_padding), down
    return UNET2_OBLIGATIONS[name][2](cfg, n, "lean"), n


def check_unet2_obligations(cfg: UNet2Config, h: int, w: int) -> None:
    """Raise a ShapeError naming each of the eight ``h_*`` obligations that fails at ``h x w``.

    The config must be well formed (:func:`~nnbridge.spec.models.configs.well_formed`).
    Each failing obligation is shown with its statement and both sides' values, e.g.
    ``h_upH: UNetUpH cfg inH = inH, but 4 != 5 (inH = 5)``.
    """
    if not isinstance(cfg, UNet2Config):
        raise ShapeError(Rule.CONFIG_TYPE, op="UNet2", expected="a UNet2Config",
                         got=type(cfg).__name__)
    well_formed(cfg, "UNet2")
    h, w = integer("UNet2", "h", h, minimum=0), integer("UNet2", "w", w, minimum=0)
    verdicts = unet2_obligations(cfg, h, w)
    failing = []
    for name, holds in verdicts.items():
        if holds:
            continue
        axis, statement, _ = UNET2_OBLIGATIONS[name]
        n = h if axis == "H" else w
        left, right = _obligation_sides(cfg, name, n)
        failing.append(f"{name}: {statement}, but {left} != {right} (in{axis} = {n})")
    if failing:
        raise ShapeError(
            f"UNet2: {len(failing)} of the 8 shape obligations fail for input {h}x{w}: "
            + "; ".join(failing), rule=Rule.MODEL_OBLIGATIONS)


class UNet2(SpecModel):
    """TorchLean's ``UNet2Spec`` on ``(inC, H, W)`` inputs; any ``H, W`` meeting the obligations.

    Parameters
    ----------
    cfg : UNet2Config
        Defaults: pool 2/2, convs 3x3 stride 1 padding 1, up 2x2 stride 2, 1x1 head, baseC 64.
        Checked by :func:`~nnbridge.spec.models.configs.well_formed` (TorchLean's ``WF``).
    in_c, out_c : int
        Input and output channels.
    seed : int
        Parameters ``<layer>.weight`` and ``<layer>.bias`` for the layers of
        :data:`CONV_LAYERS`, ``up`` and ``head`` are drawn from it.
    dtype : float32 or float64
    """

    def __init__(self, cfg: UNet2Config | None = None, in_c: int = 1, out_c: int = 1, *,
                 seed: int = 0, dtype=np.float64):
        cfg = UNet2Config() if cfg is None else cfg
        if not isinstance(cfg, UNet2Config):
            raise ShapeError(Rule.CONFIG_TYPE, op="UNet2", expected="a UNet2Config",
                             got=type(cfg).__name__)
        sizes = positive_sizes("UNet2", in_c=in_c, out_c=out_c)
        in_c, out_c = sizes["in_c"], sizes["out_c"]
        well_formed(cfg, "UNet2")
        self.cfg, self.in_c, self.out_c = cfg, in_c, out_c
        self.input_shape = (in_c, None, None)
        base, k = cfg.base_c, (cfg.conv_kernel,) * 2
        table = {}
        for name, cin, cout in CONV_LAYERS:
            cin = in_c if cin == "in" else cin * base
            table[f"{name}.weight"] = ((cout * base, cin) + k, "weight")
            table[f"{name}.bias"] = ((cout * base,), "bias")
        table["up.weight"] = ((2 * base, base) + (cfg.up_kernel,) * 2, "weight")
        table["up.bias"] = ((base,), "bias")
        table["head.weight"] = ((out_c, base) + (cfg.head_kernel,) * 2, "weight")
        table["head.bias"] = ((out_c,), "bias")
        self._init_params(table, seed, dtype)

    # static arguments -----------------------------------------------------------------
    def _conv_args(self):
        return {"stride": self.cfg.conv_stride, "padding": self.cfg.conv_padding}

    def _pool_args(self):
        return {"kernel": self.cfg.pool_kernel, "stride": self.cfg.pool_stride}

    def _up_args(self):
        return {"stride": self.cfg.up_stride, "padding": self.cfg.up_padding}

    def _head_args(self):
        return {"stride": self.cfg.head_stride, "padding": self.cfg.head_padding}

    def _check_size(self, x):
        """The eight ``h_*`` obligations of ``UNet2Spec.forward`` at the input's size."""
        check_unet2_obligations(self.cfg, x.shape[1], x.shape[2])

    # the forward, once ------------------------------------------------------------------
    def graph(self, ex, p, x) -> dict:
        """The U-Net output ``(outC, H, W)``; ``v`` keeps every block's input and conv output."""
        v = {"x": x}

        def block(name, inp):
            v[f"{name}.in"] = inp
            v[f"{name}.pre"] = ex.conv(p[f"{name}.weight"], p[f"{name}.bias"], inp,
                                       **self._conv_args())
            return ex.relu(v[f"{name}.pre"])

        v["skip"] = block("down1_2", block("down1_1", x))
        v["pooled"] = ex.max_pool(v["skip"], **self._pool_args())
        v["low"] = block("down2_2", block("down2_1", v["pooled"]))
        v["up"] = ex.conv_transpose(p["up.weight"], p["up.bias"], v["low"], **self._up_args())
        v["cat"] = ex.concat(v["skip"], v["up"])
        v["head.in"] = block("up1_2", block("up1_1", v["cat"]))
        v["y"] = ex.conv(p["head.weight"], p["head.bias"], v["head.in"], **self._head_args())
        return v

    # the hand-written backward and forward mode ------------------------------------------
    def _backward(self, v, p, grad_y, grads):
        """Head, up blocks, concat split, transposed conv, down blocks; the skip's two
        gradients (concat and pool) add."""
        def block_vjp(name, g):
            g = relu_vjp(v[f"{name}.pre"], g)
            grads[f"{name}.weight"], grads[f"{name}.bias"], g = conv_vjp(
                v[f"{name}.in"], p[f"{name}.weight"], p[f"{name}.bias"], g, **self._conv_args())
            return g

        grads["head.weight"], grads["head.bias"], g = conv_vjp(
            v["head.in"], p["head.weight"], p["head.bias"], grad_y, **self._head_args())
        g = block_vjp("up1_1", block_vjp("up1_2", g))
        g_skip, g_up = concat_vjp(v["skip"], v["up"], g)
        grads["up.weight"], grads["up.bias"], g = conv_transpose_vjp(
            v["low"], p["up.weight"], p["up.bias"], g_up, **self._up_args())
        g = block_vjp("down2_1", block_vjp("down2_2", g))
        g_skip = g_skip + max_pool_vjp(v["skip"], g, **self._pool_args())
        return block_vjp("down1_1", block_vjp("down1_2", g_skip))

    def _forward_tangent(self, v, p, d, dx):
        """The output tangent along ``(dx, d)``."""
        def block_jvp(name, t):
            t = conv_jvp(v[f"{name}.in"], p[f"{name}.weight"], p[f"{name}.bias"], t,
                         d[f"{name}.weight"], d[f"{name}.bias"], **self._conv_args())
            return relu_jvp(v[f"{name}.pre"], t)

        t_skip = block_jvp("down1_2", block_jvp("down1_1", dx))
        t = max_pool_jvp(v["skip"], t_skip, **self._pool_args())
        t = block_jvp("down2_2", block_jvp("down2_1", t))
        t = conv_transpose_jvp(v["low"], p["up.weight"], p["up.bias"], t, d["up.weight"],
                               d["up.bias"], **self._up_args())
        t = concat_jvp(v["skip"], v["up"], t_skip, t)
        t = block_jvp("up1_2", block_jvp("up1_1", t))
        return conv_jvp(v["head.in"], p["head.weight"], p["head.bias"], t, d["head.weight"],
                        d["head.bias"], **self._head_args())
