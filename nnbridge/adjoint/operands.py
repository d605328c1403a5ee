"""The operands a user hands :func:`~nnbridge.adjoint.check_torch` and ``check_numpy``:
example arrays or shape tuples, validated before anything is allocated.

A shape is a tuple (or list) of Python or NumPy integers, each at least 0, at most
:data:`MAX_RANK` of them; the differentiable inputs together hold at most
:data:`~nnbridge.adjoint.probe.MAX_ELEMENTS` elements (the checks allocate a few copies of
each). Anything else is a :class:`~nnbridge.spec.errors.UsageError` naming the input.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

from nnbridge.spec.errors import Rule, UsageError

from .probe import MAX_ELEMENTS

__all__ = ["MAX_RANK", "Slot", "check_callable", "check_total", "shape_of"]

#: The most axes a shape may have.
MAX_RANK = 32


@dataclass(frozen=True)
class Slot:
    """One positional argument: ``kind`` is ``"diff"`` (drawn, differentiated), ``"const"``
    (an array kept as given; floating ones cast to the mode's dtype) or ``"value"`` (passed
    through untouched)."""

    label: str
    kind: str
    shape: tuple = ()
    value: Any = None
    floating: bool = False


def check_callable(where: str, name: str, value) -> None:
    if not callable(value):
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: {name}",
                         detail=f"must be callable, got {type(value).__name__}")


def shape_of(where: str, label: str, value) -> tuple[int, ...]:
    """``value`` (a tuple or list of integers) as a shape; a UsageError otherwise."""
    name = f"{where}: {label}"
    if len(value) > MAX_RANK:
        raise UsageError(Rule.WORK_LIMIT, name=f"{name} rank", value=len(value),
                         limit=MAX_RANK, detail="a shape has at most this many axes")
    sizes = []
    for size in value:
        if isinstance(size, bool):
            raise UsageError(Rule.PARAM_VALUE, name=name,
                             detail=f"a shape holds integers, got {size!r} in "
                                    f"{_show(value)}")
        try:
            size = operator.index(size)
        except TypeError:
            raise UsageError(Rule.PARAM_VALUE, name=name,
                             detail=f"a shape holds integers, got {type(size).__name__} "
                                    f"in {_show(value)}; give an example tensor or a "
                                    "tuple of sizes") from None
        if size < 0:
            raise UsageError(Rule.PARAM_VALUE, name=name,
                             detail=f"sizes must be at least 0, got {size} in "
                                    f"{_show(value)}")
        sizes.append(size)
    check_total(where, f"{label} {_show(value)}", math.prod(sizes))
    return tuple(sizes)


def check_total(where: str, what: str, count: int) -> None:
    if count > MAX_ELEMENTS:
        raise UsageError(Rule.WORK_LIMIT, name=f"{where}: elements of {what}",
                         value=count if count < 10**30 else f"about 10**{len(str(count)) - 1}",
                         limit=MAX_ELEMENTS,
                         detail="the checks hold several copies of every operand; check a "
                                "smaller instance of the same code")


def _show(value) -> str:
    text = repr(tuple(value)) if len(value) <= 8 else f"({len(value)} sizes)"
    return text if len(text) <= 80 else text[:77] + "..."
