"""Operand sampling for the adjoint and JVP checks: one sampler per mode.

Mode ``"exact"``
    float64 arrays of small integers in ``[-3, 3]``; sums of products of such numbers stay
    integers far below 2**53 for the sizes the registry uses, so every float64 operation on
    them is exact, whatever the summation order.
Modes ``"float32"`` and ``"float64"``
    standard normal values in that dtype.
Mode ``"fd"``
    float64 standard normal values, for finite differences.

:meth:`Sampler.unique` and :meth:`Sampler.away_from_zero` draw points away from ties (max
pool) and kinks (ReLU), where a JVP is only one-sided and finite differences would not agree.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MODES", "Sampler"]

MODES = ("exact", "float32", "float64", "fd")

#: Largest magnitude of an exact-mode operand.
EXACT_BOUND = 3


class Sampler:
    """Draws the operands of one trial.

    Parameters
    ----------
    mode : one of :data:`MODES`
    seed : int or numpy Generator
    """

    def __init__(self, mode: str, seed=0):
        if mode not in MODES:
            raise ValueError(f"sampler mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.dtype = np.dtype(np.float32 if mode == "float32" else np.float64)

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    def array(self, shape, scale: float = 1.0) -> np.ndarray:
        """Generic operand: small integers (exact mode) or ``scale`` * standard normal."""
        shape = tuple(shape)
        if self.exact:
            return self.rng.integers(-EXACT_BOUND, EXACT_BOUND + 1, size=shape).astype(np.float64)
        return (scale * self.rng.standard_normal(shape)).astype(self.dtype)

    def unique(self, shape, gap: float = 0.05) -> np.ndarray:
        """Pairwise distinct values, neighbours in rank at least ``gap / 2`` apart.

        Exact mode gives distinct integers (a shuffled range around 0).
        """
        shape = tuple(shape)
        n = math.prod(shape)
        ranks = self.rng.permutation(n).astype(np.float64) - n // 2
        if self.exact:
            return ranks.reshape(shape)
        jitter = self.rng.uniform(-gap / 4, gap / 4, size=n)
        return ((ranks * gap + jitter).reshape(shape)).astype(self.dtype)

    def away_from_zero(self, shape, delta: float = 0.1) -> np.ndarray:
        """Values with ``|x| >= delta`` (exact mode: non-zero integers)."""
        shape = tuple(shape)
        sign = np.where(self.rng.random(shape) < 0.5, -1.0, 1.0)
        if self.exact:
            return sign * self.rng.integers(1, EXACT_BOUND + 1, size=shape)
        return (sign * (delta + np.abs(self.rng.standard_normal(shape)))).astype(self.dtype)
