"""Small helpers shared by the obligation families: PyTorch terms and int confirmations."""

from __future__ import annotations

from collections.abc import Callable

import z3
from nnbridge.spec.arith import conditions
from nnbridge.spec.errors import ShapeError

__all__ = ["as_bool", "compare_ints", "torch_term"]


def as_bool(cond) -> z3.BoolRef:
    """A predicate's Z3 reading as a Z3 boolean (a reading may fold a constant to a ``bool``)."""
    return z3.BoolVal(cond) if isinstance(cond, bool) else cond


def torch_term(thunk: Callable):
    """``(value, accepted)``: a PyTorch-semantics term and the condition that PyTorch accepts it.

    A rule that fails for every value (a constant argument PyTorch rejects) gives
    ``(None, False)``.
    """
    try:
        with conditions() as conds:
            value = thunk()
    except ShapeError:
        return None, z3.BoolVal(False)
    accepted = z3.And(*[c for _, c in conds]) if conds else z3.BoolVal(True)
    return value, accepted


def _run(thunk: Callable) -> str:
    try:
        return str(thunk())
    except ShapeError as exc:
        return f"raises ({exc.rule})"


def compare_ints(lean: Callable, torch: Callable) -> str | None:
    """"Lean X, PyTorch Y" when the two int readings differ, else ``None``."""
    a, b = _run(lean), _run(torch)
    return None if a == b else f"Lean {a}, PyTorch {b}"
