"""TorchLean's small CNNs: ``CNN2`` (CNN2Spec) and the seed's SpecChain variants.

``conv1 -> [ReLU] -> max pool -> conv2 -> [ReLU] -> max pool -> flatten -> linear``

* :class:`CNN2` mirrors ``Models.Full.CNN2Spec``: conv ``inC -> c1``, conv ``c1 -> c2``,
  linear ``featSize -> outDim``, ReLU after each conv, with an explicit backward.
* :class:`CNNChain` mirrors ``Models.cnnSpec`` (no activations) and
  ``Models.cnnWithReluSpec`` (ReLU after each conv): both convs have ``outC`` channels and the
  linear head maps ``featSize -> outC``. :func:`cnn_spec` and :func:`cnn_with_relu_spec`
  build them.

Every size comes from :mod:`nnbridge.spec.shapes` (``cnn2_stages``, ``cnn2_feat_size``).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from ..basic import (
    flatten,
    flatten_jvp,
    flatten_vjp,
    linear,
    linear_jvp,
    linear_vjp,
    relu,
    relu_jvp,
    relu_vjp,
)
from ..conv import conv, conv_jvp, conv_vjp
from ..errors import ShapeError
from ..pool import max_pool, max_pool_jvp, max_pool_vjp
from ..shapes import CNN2Config, cnn2_feat_size, cnn2_stages
from ._base import SpecModel

__all__ = ["CNN2", "CNNChain", "cnn_spec", "cnn_with_relu_spec"]


class _ConvPoolNet(SpecModel):
    """The shared chain; ``relu`` says whether a ReLU follows each conv."""

    relu: bool

    def __init__(self, cfg: CNN2Config, in_c: int, in_h: int, in_w: int, *, relu: bool,
                 seed: int = 0, dtype=np.float64):
        if not isinstance(cfg, CNN2Config):
            raise ShapeError(f"{type(self).__name__}: cfg must be a CNN2Config, got "
                             f"{type(cfg).__name__}", rule="config_type")
        for name, value in (("in_c", in_c), ("in_h", in_h), ("in_w", in_w)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ShapeError(f"{type(self).__name__}: {name} must be a positive integer, "
                                 f"got {value!r}", rule="positive_size")
        zero = [f.name for f in fields(cfg) if getattr(cfg, f.name) == 0
                and f.name not in ("padding1", "padding2")]
        if zero:
            raise ShapeError(f"{type(self).__name__}: CNN2Config.WF needs {zero} nonzero",
                             rule="config_wf")
        lean = cnn2_stages(cfg, in_h, in_w)
        torch_sizes = cnn2_stages(cfg, in_h, in_w, semantics="torch")  # raises where torch does
        if lean != torch_sizes:
            diff = {k: (lean[k], torch_sizes[k]) for k in lean if lean[k] != torch_sizes[k]}
            raise ShapeError(
                f"{type(self).__name__}: Lean's Nat sizes and PyTorch's disagree at "
                f"{diff} (lean, torch) for input {in_h}x{in_w}", rule="lean_torch_divergence")
        self.cfg, self.relu, self.stages = cfg, relu, lean
        self.input_shape = (in_c, in_h, in_w)
        self.feat_size = cnn2_feat_size(cfg, in_h, in_w)
        k = (cfg.k_h, cfg.k_w)
        self._init_params({
            "conv1.weight": ((cfg.c1, in_c) + k, "weight"),
            "conv1.bias": ((cfg.c1,), "bias"),
            "conv2.weight": ((cfg.c2, cfg.c1) + k, "weight"),
            "conv2.bias": ((cfg.c2,), "bias"),
            "head.weight": ((cfg.out_dim, self.feat_size), "weight"),
            "head.bias": ((cfg.out_dim,), "bias"),
        }, seed, dtype)

    # the layers' static arguments -----------------------------------------------------
    def _conv(self, i):
        c = self.cfg
        return ({"stride": c.stride1, "padding": c.padding1} if i == 1
                else {"stride": c.stride2, "padding": c.padding2})

    def _pool(self, i):
        c = self.cfg
        return {"kernel": (c.pool_kh, c.pool_kw),
                "stride": c.pool_stride1 if i == 1 else c.pool_stride2}

    def _act(self, h):
        return relu(h) if self.relu else h

    def _intermediates(self, x, p):
        v = {"x": x}
        v["h1"] = conv(x, p["conv1.weight"], p["conv1.bias"], **self._conv(1))
        v["r1"] = self._act(v["h1"])
        v["q1"] = max_pool(v["r1"], **self._pool(1))
        v["h2"] = conv(v["q1"], p["conv2.weight"], p["conv2.bias"], **self._conv(2))
        v["r2"] = self._act(v["h2"])
        v["q2"] = max_pool(v["r2"], **self._pool(2))
        v["f"] = flatten(v["q2"])
        v["y"] = linear(v["f"], p["head.weight"], p["head.bias"])
        return v

    def forward(self, x, params=None):
        """``linear(flatten(pool(act(conv2(pool(act(conv1(x))))))))``, shape ``(outDim,)``."""
        return self._intermediates(self._check_input("x", x), self._params(params))["y"]

    def vjp(self, x, grad_y, params=None):
        """Reverse through the chain with each layer's vjp; returns ``(grads, grad_x)``."""
        p = self._params(params)
        v = self._intermediates(self._check_input("x", x), p)
        grads = {}
        grads["head.weight"], grads["head.bias"], g = linear_vjp(
            v["f"], p["head.weight"], p["head.bias"], grad_y)
        g = flatten_vjp(v["q2"], g)
        g = max_pool_vjp(v["r2"], g, **self._pool(2))
        if self.relu:
            g = relu_vjp(v["h2"], g)
        grads["conv2.weight"], grads["conv2.bias"], g = conv_vjp(
            v["q1"], p["conv2.weight"], p["conv2.bias"], g, **self._conv(2))
        g = max_pool_vjp(v["r1"], g, **self._pool(1))
        if self.relu:
            g = relu_vjp(v["h1"], g)
        grads["conv1.weight"], grads["conv1.bias"], g = conv_vjp(
            x, p["conv1.weight"], p["conv1.bias"], g, **self._conv(1))
        return grads, g

    def jvp(self, x, dx, dparams=None, params=None):
        """Push ``(dx, dparams)`` forward with each layer's jvp; returns ``dy``."""
        p, d = self._params(params), self._tangents(dparams)
        v = self._intermediates(self._check_input("x", x), p)
        t = conv_jvp(x, p["conv1.weight"], p["conv1.bias"], self._check_input("dx", dx),
                     d["conv1.weight"], d["conv1.bias"], **self._conv(1))
        if self.relu:
            t = relu_jvp(v["h1"], t)
        t = max_pool_jvp(v["r1"], t, **self._pool(1))
        t = conv_jvp(v["q1"], p["conv2.weight"], p["conv2.bias"], t, d["conv2.weight"],
                     d["conv2.bias"], **self._conv(2))
        if self.relu:
            t = relu_jvp(v["h2"], t)
        t = max_pool_jvp(v["r2"], t, **self._pool(2))
        t = flatten_jvp(v["q2"], t)
        return linear_jvp(v["f"], p["head.weight"], p["head.bias"], t, d["head.weight"],
                          d["head.bias"])


class CNN2(_ConvPoolNet):
    """TorchLean's ``CNN2Spec``: conv, ReLU, max pool, conv, ReLU, max pool, flatten, linear.

    ``y = W_h flatten(pool2(relu(conv2(pool1(relu(conv1(x))))))) + b_h``

    Parameters
    ----------
    cfg : CNN2Config
        Defaults: c1 32, c2 64, outDim 10, 3x3 convs with padding 1, 2x2 pools of stride 2.
    in_c, in_h, in_w : int
        The input image ``(inC, inH, inW)``.
    seed : int
        Parameters ``conv1.weight``, ``conv1.bias``, ``conv2.*``, ``head.*`` are drawn from it.
    dtype : float32 or float64
    """

    def __init__(self, cfg: CNN2Config | None = None, in_c: int = 1, in_h: int = 28,
                 in_w: int = 28, *, seed: int = 0, dtype=np.float64):
        super().__init__(CNN2Config() if cfg is None else cfg, in_c, in_h, in_w, relu=True,
                         seed=seed, dtype=dtype)


class CNNChain(_ConvPoolNet):
    """The seed's ``cnnSpec`` / ``cnnWithReluSpec`` chain: both convs and the head have ``outC``.

    ``y = W_h flatten(pool2(act(conv2(pool1(act(conv1(x))))))) + b_h`` with ``act`` the
    identity (``relu=False``, ``cnnSpec``) or ReLU (``relu=True``, ``cnnWithReluSpec``).

    Parameters
    ----------
    in_c, out_c, in_h, in_w : int
    relu : bool
    seed : int
    dtype : float32 or float64
    **layer
        ``k_h, k_w, stride1, padding1, stride2, padding2, pool_kh, pool_kw, pool_stride1,
        pool_stride2`` (CNN2Config's defaults when absent).
    """

    def __init__(self, in_c: int, out_c: int, in_h: int, in_w: int, *, relu: bool = False,
                 seed: int = 0, dtype=np.float64, **layer):
        bad = sorted(set(layer) & {"c1", "c2", "out_dim"})
        if bad:
            raise ShapeError(f"CNNChain: {bad} are fixed to out_c in the seed's chain",
                             rule="config_field")
        try:
            cfg = replace(CNN2Config(), c1=out_c, c2=out_c, out_dim=out_c, **layer)
        except TypeError as err:
            raise ShapeError(f"CNNChain: {err}", rule="config_field") from None
        super().__init__(cfg, in_c, in_h, in_w, relu=relu, seed=seed, dtype=dtype)


def cnn_spec(in_c: int, out_c: int, in_h: int, in_w: int, **kwargs) -> CNNChain:
    """``Models.cnnSpec``: conv, max pool, conv, max pool, flatten, linear (no activations)."""
    return CNNChain(in_c, out_c, in_h, in_w, relu=False, **kwargs)


def cnn_with_relu_spec(in_c: int, out_c: int, in_h: int, in_w: int, **kwargs) -> CNNChain:
    """``Models.cnnWithReluSpec``: ``cnnSpec`` with a ReLU after each convolution."""
    return CNNChain(in_c, out_c, in_h, in_w, relu=True, **kwargs)
