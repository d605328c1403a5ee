"""TorchLean's two-layer MLP (the ``TorchLean.MLP`` state-dict family).

``y = W2 relu(W1 x + b1) + b2``

Parameters are named as TorchLean's files name them: ``fc1.weight (H, I)``, ``fc1.bias
(H,)``, ``fc2.weight (O, H)``, ``fc2.bias (O,)`` (PyTorch's ``nn.Sequential`` names them
``layers.0.*`` and ``layers.2.*``; :mod:`nnbridge.torchlean` reads either). The forward is
written once (``graph``) and read on arrays and on a tape, with a hand-written backward
and forward mode.
"""

from __future__ import annotations

import numpy as np

from ..basic import linear_jvp, linear_vjp, relu_jvp, relu_vjp
from ._base import SpecModel, positive_sizes

__all__ = ["MLP"]


class MLP(SpecModel):
    """``y = W2 relu(W1 x + b1) + b2`` on one vector ``x`` of ``in_dim`` features.

    Parameters
    ----------
    in_dim, hidden, out_dim : int
        ``I``, ``H`` and ``O`` (TorchLean's example: 2, 3, 1).
    seed : int
        Parameters ``fc1.weight``, ``fc1.bias``, ``fc2.weight``, ``fc2.bias`` are drawn
        from it.
    dtype : float32 or float64
    """

    def __init__(self, in_dim: int = 2, hidden: int = 3, out_dim: int = 1, *, seed: int = 0,
                 dtype=np.float64):
        sizes = positive_sizes("MLP", in_dim=in_dim, hidden=hidden, out_dim=out_dim)
        self.in_dim, self.hidden, self.out_dim = sizes["in_dim"], sizes["hidden"], \
            sizes["out_dim"]
        self.input_shape = (self.in_dim,)
        self._init_params({
            "fc1.weight": ((self.hidden, self.in_dim), "weight"),
            "fc1.bias": ((self.hidden,), "bias"),
            "fc2.weight": ((self.out_dim, self.hidden), "weight"),
            "fc2.bias": ((self.out_dim,), "bias"),
        }, seed, dtype)

    def graph(self, ex, p, x) -> dict:
        """``linear(relu(linear(x)))``, shape ``(out_dim,)``."""
        v = {"x": x}
        v["h"] = ex.linear(p["fc1.weight"], p["fc1.bias"], x)
        v["r"] = ex.relu(v["h"])
        v["y"] = ex.linear(p["fc2.weight"], p["fc2.bias"], v["r"])
        return v

    def _backward(self, v, p, grad_y, grads):
        grads["fc2.weight"], grads["fc2.bias"], g = linear_vjp(
            v["r"], p["fc2.weight"], p["fc2.bias"], grad_y)
        g = relu_vjp(v["h"], g)
        grads["fc1.weight"], grads["fc1.bias"], g = linear_vjp(
            v["x"], p["fc1.weight"], p["fc1.bias"], g)
        return g

    def _forward_tangent(self, v, p, d, dx):
        t = linear_jvp(v["x"], p["fc1.weight"], p["fc1.bias"], dx, d["fc1.weight"],
                       d["fc1.bias"])
        t = relu_jvp(v["h"], t)
        return linear_jvp(v["r"], p["fc2.weight"], p["fc2.bias"], t, d["fc2.weight"],
                          d["fc2.bias"])
