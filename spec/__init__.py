"""Executable specifications: the shape formulas, the op records and the NumPy layer specs.

Every op is exported here with its VJP and JVP, as functions::

    from nnbridge.spec import conv, conv_vjp, max_pool_jvp, leaky_relu

They load on first use (importing :mod:`nnbridge.spec` itself stays cheap: NumPy is not
imported until an op is). The records they come from are in :mod:`nnbridge.spec.ops`.
"""

from __future__ import annotations

from .errors import NNBridgeError as NNBridgeError
from .errors import Rule as Rule
from .errors import ShapeError as ShapeError
from .errors import UsageError as UsageError

_ERRORS = ["NNBridgeError", "Rule", "ShapeError", "UsageError"]


#: Functions that are no op record: ``cat`` (a list of any length, which a record's named
#: operands cannot say) and the running statistics' update of batch norm (not differentiated).
_EXTRAS = {"cat": "resize", "cat_vjp": "resize", "cat_jvp": "resize",
           "batch_norm_running_stats": "norm"}


def _functions() -> dict:
    """Every op's forward, VJP and JVP by name, from the records (NumPy loads here)."""
    import importlib

    from .ops import ops

    functions = {fn.__name__: fn for op in ops() for fn in (op.forward, op.vjp, op.jvp)}
    for name, family in _EXTRAS.items():
        functions[name] = getattr(importlib.import_module(f"{__package__}.{family}"), name)
    return functions


def __getattr__(name: str):
    if name.startswith("__") and name != "__all__":
        raise AttributeError(f"module 'nnbridge.spec' has no attribute {name!r}")
    functions = _functions()
    if name == "__all__":
        return _ERRORS + sorted(set(functions) - set(_EXTRAS))
    if name in functions:
        globals().update(functions)
        return functions[name]
    raise AttributeError(f"module 'nnbridge.spec' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_functions()))
