"""Executable specifications: the shape formulas, the op records and the NumPy layer specs.

Every op is exported here with its VJP and JVP, as functions::

    from nnbridge.spec import conv, conv_vjp, max_pool_jvp, leaky_relu

They load on first use (importing :mod:`nnbridge.spec` itself stays cheap: NumPy is not
imported until an op is). The records they come from are in :mod:`nnbridge.spec.ops`.
"""

from __future__ import annotations

from .errors import NNBridgeError, Rule, ShapeError, UsageError

_OP_NAMES = (
    "add", "avg_pool", "batch_norm", "channel_pad", "channel_slice", "concat", "conv",
    "conv_transpose", "crop", "flatten", "global_avg_pool", "leaky_relu", "linear",
    "max_pool", "pad", "relu", "shortcut", "smooth_max_pool",
)
_FUNCTIONS = tuple(f"{name}{suffix}" for name in _OP_NAMES for suffix in ("", "_vjp", "_jvp"))

__all__ = ["NNBridgeError", "Rule", "ShapeError", "UsageError", *_FUNCTIONS]


def __getattr__(name: str):
    if name in _FUNCTIONS:
        from .ops import ops

        for op in ops():
            for fn in (op.forward, op.vjp, op.jvp):
                globals()[fn.__name__] = fn
        return globals()[name]
    raise AttributeError(f"module 'nnbridge.spec' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FUNCTIONS))
