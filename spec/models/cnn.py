"""TorchLean's small CNNs: ``CNN2`` (CNN2Spec) and the seed's SpecChain variants.

``conv1 -> [ReLU] -> max pool -> conv2 -> [ReLU] -> max pool -> flatten -> linear``

* :class:`CNN2` mirrors ``Models.Full.CNN2Spec``: conv ``inC -> c1``, conv ``c1 -> c2``,
  linear ``featSize -> outDim``, ReLU after each conv, with an explicit backward.
* :class:`CNNChain` mirrors ``Models.cnnSpec`` (no activations) and
  ``Models.cnnWithReluSpec`` (ReLU after each conv): both convs have ``outC`` channels and the
  linear head maps ``featSize -> outC``. :func:`cnn_spec` and :func:`cnn_with_relu_spec`
  build them.

Every size comes from :mod:`nnbridge.spec.shapes` (``cnn2_stages``, ``cnn2_feat_size``); the
config must be well formed (TorchLean's ``CNN2Config.WF``) and the chain's sizes must agree
between TorchLean's Nat formulas and PyTorch at the model's input size. The forward is
written once (``graph``) and read on arrays and on a tape.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from ..basic import (
    flatten_jvp,
    flatten_vjp,
    linear_jvp,
    linear_vjp,
    relu_jvp,
    relu_vjp,
)
from ..convolution import conv_jvp, conv_vjp
from ..errors import Rule, ShapeError
from ..pool import max_pool_jvp, max_pool_vjp
from ..shapes import CNN2Config, cnn2_feat_size, cnn2_stages
from ._base import SpecModel, positive_sizes
from .configs import well_formed

__all__ = ["CNN2", "HEAD_NAMES", "CNNChain", "cnn_spec", "cnn_with_relu_spec"]

#: The classifier's name: nnbridge's ``head`` (the default) or ``fc``, as TorchLean's
#: ``TorchLean.CNN2`` files name it.
HEAD_NAMES = ("head", "fc")


class _ConvPoolNet(SpecModel):
    """The shared chain; ``relu`` says whether a ReLU follows each conv."""

    relu: bool
    head: str

    def __init__(self, cfg: CNN2Config, in_c: int, in_h: int, in_w: int, *, relu: bool,
                 seed: int = 0, dtype=np.float64, head: str = "head"):
        owner = type(self).__name__
        if head not in HEAD_NAMES:
            raise ShapeError(Rule.CONFIG_FIELD, op=owner, name="head",
                             detail=f"the classifier is named 'head' or 'fc' (TorchLean's "
                                    f"files), got {head!r}")
        if not isinstance(cfg, CNN2Config):
            raise ShapeError(Rule.CONFIG_TYPE, op=owner, expected="a CNN2Config",
                             got=type(cfg).__name__)
        if not isinstance(relu, bool):
            raise ShapeError(Rule.CONFIG_FIELD, op=owner, name="relu",
                             detail=f"must be a bool, got {relu!r}")
        sizes = positive_sizes(owner, in_c=in_c, in_h=in_h, in_w=in_w)
        in_c, in_h, in_w = sizes["in_c"], sizes["in_h"], sizes["in_w"]
        well_formed(cfg, owner)
        lean = cnn2_stages(cfg, in_h, in_w)
        torch_sizes = cnn2_stages(cfg, in_h, in_w, semantics="torch")  # raises where torch does
        if lean != torch_sizes:
            diff = {k: (lean[k], torch_sizes[k]) for k in lean if lean[k] != torch_sizes[k]}
            raise ShapeError(
                f"{owner}: Lean's Nat sizes and PyTorch's disagree at {diff} (lean, torch) for "
                f"input {in_h}x{in_w}", rule=Rule.LEAN_TORCH_DIVERGENCE)
        self.cfg, self.relu, self.stages, self.head = cfg, relu, lean, head
        self.input_shape = (in_c, in_h, in_w)
        self.feat_size = cnn2_feat_size(cfg, in_h, in_w)
        k = (cfg.k_h, cfg.k_w)
        self._init_params({
            "conv1.weight": ((cfg.c1, in_c) + k, "weight"),
            "conv1.bias": ((cfg.c1,), "bias"),
            "conv2.weight": ((cfg.c2, cfg.c1) + k, "weight"),
            "conv2.bias": ((cfg.c2,), "bias"),
            f"{head}.weight": ((cfg.out_dim, self.feat_size), "weight"),
            f"{head}.bias": ((cfg.out_dim,), "bias"),
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

    # the forward, once ------------------------------------------------------------------
    def graph(self, ex, p, x) -> dict:
        """``linear(flatten(pool(act(conv2(pool(act(conv1(x))))))))``, shape ``(outDim,)``."""
        v = {"x": x}
        v["h1"] = ex.conv(p["conv1.weight"], p["conv1.bias"], x, **self._conv(1))
        v["r1"] = ex.relu(v["h1"]) if self.relu else v["h1"]
        v["q1"] = ex.max_pool(v["r1"], **self._pool(1))
        v["h2"] = ex.conv(p["conv2.weight"], p["conv2.bias"], v["q1"], **self._conv(2))
        v["r2"] = ex.relu(v["h2"]) if self.relu else v["h2"]
        v["q2"] = ex.max_pool(v["r2"], **self._pool(2))
        v["f"] = ex.flatten(v["q2"])
        w, b = self.head + ".weight", self.head + ".bias"
        v["y"] = ex.linear(p[w], p[b], v["f"])
        return v

    # the hand-written backward and forward mode ------------------------------------------
    def _backward(self, v, p, grad_y, grads):
        """Reverse through the chain with each layer's vjp."""
        w, b = self.head + ".weight", self.head + ".bias"
        grads[w], grads[b], g = linear_vjp(v["f"], p[w], p[b], grad_y)
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
            v["x"], p["conv1.weight"], p["conv1.bias"], g, **self._conv(1))
        return g

    def _forward_tangent(self, v, p, d, dx):
        """Push ``(dx, d)`` forward with each layer's jvp."""
        t = conv_jvp(v["x"], p["conv1.weight"], p["conv1.bias"], dx, d["conv1.weight"],
                     d["conv1.bias"], **self._conv(1))
        if self.relu:
            t = relu_jvp(v["h1"], t)
        t = max_pool_jvp(v["r1"], t, **self._pool(1))
        t = conv_jvp(v["q1"], p["conv2.weight"], p["conv2.bias"], t, d["conv2.weight"],
                     d["conv2.bias"], **self._conv(2))
        if self.relu:
            t = relu_jvp(v["h2"], t)
        t = max_pool_jvp(v["r2"], t, **self._pool(2))
        t = flatten_jvp(v["q2"], t)
        w, b = self.head + ".weight", self.head + ".bias"
        return linear_jvp(v["f"], p[w], p[b], t, d[w], d[b])


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
    head : str
        The classifier's name: ``"head"`` (default) or ``"fc"``, TorchLean's (its
        ``TorchLean.CNN2`` files say ``fc.weight``, ``fc.bias``).
    """

    def __init__(self, cfg: CNN2Config | None = None, in_c: int = 1, in_h: int = 28,
                 in_w: int = 28, *, seed: int = 0, dtype=np.float64, head: str = "head"):
        super().__init__(CNN2Config() if cfg is None else cfg, in_c, in_h, in_w, relu=True,
                         seed=seed, dtype=dtype, head=head)


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
    head : str
        The classifier's name, ``"head"`` (default) or ``"fc"`` (TorchLean's files).
    **layer
        ``k_h, k_w, stride1, padding1, stride2, padding2, pool_kh, pool_kw, pool_stride1,
        pool_stride2`` (CNN2Config's defaults when absent).
    """

    def __init__(self, in_c: int, out_c: int, in_h: int, in_w: int, *, relu: bool = False,
                 seed: int = 0, dtype=np.float64, head: str = "head", **layer):
        bad = sorted(set(layer) & {"c1", "c2", "out_dim"})
        if bad:
            raise ShapeError(Rule.CONFIG_FIELD, op="CNNChain", name=", ".join(bad),
                             detail="fixed to out_c in the seed's chain")
        unknown = sorted(set(layer) - {f.name for f in fields(CNN2Config)})
        if unknown:
            raise ShapeError(Rule.CONFIG_FIELD, op="CNNChain", name=", ".join(unknown),
                             detail="not a CNN2Config field")
        cfg = replace(CNN2Config(), c1=out_c, c2=out_c, out_dim=out_c, **layer)
        super().__init__(cfg, in_c, in_h, in_w, relu=relu, seed=seed, dtype=dtype, head=head)


def cnn_spec(in_c: int, out_c: int, in_h: int, in_w: int, **kwargs) -> CNNChain:
    """``Models.cnnSpec``: conv, max pool, conv, max pool, flatten, linear (no activations)."""
    return CNNChain(in_c, out_c, in_h, in_w, relu=False, **kwargs)


def cnn_with_relu_spec(in_c: int, out_c: int, in_h: int, in_w: int, **kwargs) -> CNNChain:
    """``Models.cnnWithReluSpec``: ``cnnSpec`` with a ReLU after each convolution."""
    return CNNChain(in_c, out_c, in_h, in_w, relu=True, **kwargs)
