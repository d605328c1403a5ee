"""Tape nodes for the basic ops, registered through :func:`nnbridge.spec.tape.register_node`.

Importing this module makes ``linear``, ``relu``, ``batch_norm``, ``global_avg_pool``,
``flatten``, ``concat``, ``shortcut``, ``channel_pad``, ``channel_slice``, ``pad``, ``crop``
and the residual ``add`` recordable on every :class:`~nnbridge.spec.tape.Tape`. Parents are
in TorchLean's order, parameters first and input last (``linear(w, b, x)``,
``batch_norm(gamma, beta, x)``); static arguments are keyword attributes.
"""

from __future__ import annotations

from . import basic
from .tape import register_node

__all__ = ["BASIC_NODES"]


def _add_vjp(a, b, grad_y):
    """``a + b`` sends ``grad_y`` to both summands."""
    return grad_y, grad_y


#: name -> (forward over parents, vjp over parents and grad_y)
BASIC_NODES = {
    "linear": (lambda w, b, x: basic.linear(x, w, b),
               lambda w, b, x, grad_y: basic.linear_vjp(x, w, b, grad_y)),
    "relu": (basic.relu, basic.relu_vjp),
    "batch_norm": (lambda gamma, beta, x, eps=1e-6: basic.batch_norm(x, gamma, beta, eps),
                   lambda gamma, beta, x, grad_y, eps=1e-6:
                   basic.batch_norm_vjp(x, gamma, beta, grad_y, eps)),
    "global_avg_pool": (basic.global_avg_pool, basic.global_avg_pool_vjp),
    "flatten": (basic.flatten, basic.flatten_vjp),
    "concat": (basic.concat, basic.concat_vjp),
    "shortcut": (basic.shortcut,
                 lambda x, grad_y, out_channels: basic.shortcut_vjp(x, out_channels, grad_y)),
    "channel_pad": (basic.channel_pad,
                    lambda x, grad_y, out_channels:
                    basic.channel_pad_vjp(x, out_channels, grad_y)),
    "channel_slice": (basic.channel_slice,
                      lambda x, grad_y, out_channels:
                      basic.channel_slice_vjp(x, out_channels, grad_y)),
    "pad": (basic.pad, lambda x, grad_y, padding: basic.pad_vjp(x, padding, grad_y)),
    "crop": (basic.crop, lambda x, grad_y, padding: basic.crop_vjp(x, padding, grad_y)),
    "add": (lambda a, b: a + b, _add_vjp),
}

for _name, (_forward, _vjp) in BASIC_NODES.items():
    register_node(_name, forward=_forward, vjp=_vjp)
