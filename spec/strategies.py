"""Hypothesis strategies generated from the op records (test-time only: imports Hypothesis).

Shape first: a spatial rank, then the record's own sampler draws a valid geometry (its sizes
inside the proved domains), then the operands are drawn from a seed, each as the record says
(``unique`` for max pool, ``away_from_zero`` for ReLU).

>>> from nnbridge.spec.ops import get_op
>>> from nnbridge.spec.strategies import op_cases
>>> op_cases(get_op("conv"))                                    # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .ops import Op

__all__ = ["OpCase", "draw_operand", "op_cases"]


@dataclass(frozen=True)
class OpCase:
    """One drawn instance of an op: its operands by name, its static arguments and a seed."""

    op: Op
    values: dict[str, np.ndarray]
    static: dict[str, Any]
    seed: int

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        shapes = {k: v.shape for k, v in self.values.items()}
        return f"OpCase({self.op.name}, shapes={shapes}, static={self.static}, seed={self.seed})"


def draw_operand(rng: np.random.Generator, shape, draw: str = "normal",
                 dtype=np.float64) -> np.ndarray:
    """An operand of ``shape``: ``normal``, ``unique`` (ranks spaced 0.05 apart, jittered) or
    ``away_from_zero`` (|x| >= 0.1)."""
    shape = tuple(shape)
    if draw == "unique":
        n = int(np.prod(shape))
        ranks = rng.permutation(n).astype(np.float64) - n // 2
        values = ranks * 0.05 + rng.uniform(-0.0125, 0.0125, size=n)
        return values.reshape(shape).astype(dtype)
    a = rng.standard_normal(shape)
    if draw == "away_from_zero":
        a = np.where(a < 0, -1.0, 1.0) * (0.1 + np.abs(a))
    return a.astype(dtype)


@st.composite
def op_cases(draw, op: Op, *, dtype=np.float64, exact: bool = False) -> OpCase:
    """A valid instance of ``op``: rank, then geometry (the record's sampler), then arrays."""
    rank = draw(st.sampled_from(op.ranks))
    geometry = op.sample(lambda options: draw(st.sampled_from(list(options))), rank, exact)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = {name: draw_operand(rng, geometry.shapes[name], op.draws.get(name, "normal"),
                                 dtype) for name in op.operands}
    return OpCase(op, values, dict(geometry.static), seed)
