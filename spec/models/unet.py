"""TorchLean's 2-level U-Net (``UNet2Spec``) with forward, explicit vjp, and jvp.

``skip = relu(down1_2(relu(down1_1(x))))``
``low = relu(down2_2(relu(down2_1(max_pool(skip)))))``
``y = head(relu(up1_2(relu(up1_1(concat(skip, up(low)))))))``

``up`` is a transposed convolution (kernel ``(2*baseC, baseC, k, k)``), the concat puts the
skip FIRST, and the head has no ReLU. Before any arithmetic, :meth:`UNet2.forward`,
:meth:`UNet2.vjp` and :meth:`UNet2.jvp` check the eight ``h_*`` hypotheses of
``UNet2Spec.forward`` (:func:`nnbridge.spec.shapes.unet2_obligations`) and raise a
:class:`ShapeError` naming every failing one with its values.
"""

from __future__ import annotations

import numpy as np

from ..basic import concat, concat_jvp, concat_vjp, relu, relu_jvp, relu_vjp
from ..conv import (
    conv,
    conv_jvp,
    conv_transpose,
    conv_transpose_jvp,
    conv_transpose_vjp,
    conv_vjp,
)
from ..errors import ShapeError
from ..pool import max_pool, max_pool_jvp, max_pool_vjp
from ..shapes import UNET2_OBLIGATIONS, UNet2Config, conv_out, unet2_obligations, unet_down
from ._base import SpecModel

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

    Each failing obligation is shown with its statement and both sides' values, e.g.
    ``h_upH: UNetUpH cfg inH = inH, but 4 != 5 (inH = 5)``.
    """
    if not cfg.well_formed():
        raise ShapeError(f"UNet2: the config is not well formed (UNet2Config.WF: kernels, pool "
                         f"stride and baseC nonzero): {cfg}", rule="config_wf")
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
            + "; ".join(failing), rule="model_obligations")


class UNet2(SpecModel):
    """TorchLean's ``UNet2Spec`` on ``(inC, H, W)`` inputs; any ``H, W`` meeting the obligations.

    Parameters
    ----------
    cfg : UNet2Config
        Defaults: pool 2/2, convs 3x3 stride 1 padding 1, up 2x2 stride 2, 1x1 head, baseC 64.
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
            raise ShapeError(f"UNet2: cfg must be a UNet2Config, got {type(cfg).__name__}",
                             rule="config_type")
        for name, value in (("in_c", in_c), ("out_c", out_c)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ShapeError(f"UNet2: {name} must be a positive integer, got {value!r}",
                                 rule="positive_size")
        if not cfg.well_formed():
            raise ShapeError(f"UNet2: UNet2Config.WF fails (kernels, pool stride and baseC "
                             f"must be nonzero): {cfg}", rule="config_wf")
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

    def _checked(self, x):
        x = self._check_input("x", x)
        check_unet2_obligations(self.cfg, x.shape[1], x.shape[2])
        return x

    def _intermediates(self, x, p):
        v = {"x": x}

        def block(name, inp):
            v[f"{name}.in"] = inp
            v[f"{name}.pre"] = conv(inp, p[f"{name}.weight"], p[f"{name}.bias"],
                                    **self._conv_args())
            return relu(v[f"{name}.pre"])

        h = block("down1_1", x)
        v["skip"] = block("down1_2", h)
        v["pooled"] = max_pool(v["skip"], **self._pool_args())
        h = block("down2_1", v["pooled"])
        v["low"] = block("down2_2", h)
        v["up"] = conv_transpose(v["low"], p["up.weight"], p["up.bias"], **self._up_args())
        v["cat"] = concat(v["skip"], v["up"])
        h = block("up1_1", v["cat"])
        v["head.in"] = block("up1_2", h)
        v["y"] = conv(v["head.in"], p["head.weight"], p["head.bias"], **self._head_args())
        return v

    def forward(self, x, params=None):
        """The U-Net output ``(outC, H, W)``; raises if an ``h_*`` obligation fails."""
        x = self._checked(x)
        return self._intermediates(x, self._params(params))["y"]

    def vjp(self, x, grad_y, params=None):
        """``(grads, grad_x)``: head, up blocks, concat split, transposed conv, down blocks."""
        x = self._checked(x)
        p = self._params(params)
        v = self._intermediates(x, p)
        grads = {}

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
        g = block_vjp("down1_1", block_vjp("down1_2", g_skip))
        return grads, g

    def jvp(self, x, dx, dparams=None, params=None):
        """The output tangent along ``(dx, dparams)``."""
        x = self._checked(x)
        p, d = self._params(params), self._tangents(dparams)
        v = self._intermediates(x, p)

        def block_jvp(name, t):
            t = conv_jvp(v[f"{name}.in"], p[f"{name}.weight"], p[f"{name}.bias"], t,
                         d[f"{name}.weight"], d[f"{name}.bias"], **self._conv_args())
            return relu_jvp(v[f"{name}.pre"], t)

        t_skip = block_jvp("down1_2", block_jvp("down1_1", self._check_input("dx", dx)))
        t = max_pool_jvp(v["skip"], t_skip, **self._pool_args())
        t = block_jvp("down2_2", block_jvp("down2_1", t))
        t = conv_transpose_jvp(v["low"], p["up.weight"], p["up.bias"], t, d["up.weight"],
                               d["up.bias"], **self._up_args())
        t = concat_jvp(v["skip"], v["up"], t_skip, t)
        t = block_jvp("up1_2", block_jvp("up1_1", t))
        return conv_jvp(v["head.in"], p["head.weight"], p["head.bias"], t, d["head.weight"],
                        d["head.bias"], **self._head_args())
