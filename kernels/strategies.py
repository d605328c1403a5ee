"""Hypothesis strategies for batched layer configurations, shape first, and their values.

A configuration is drawn shape first (rank, batch, channels, then per axis kernel, stride,
size and padding within the bounds where TorchLean's and PyTorch's output sizes agree), and
its values come from a drawn seed, so that a failure shrinks to a minimal configuration:
smallest rank, batch, channels and window, then the seed. Needs Hypothesis (a test
dependency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from nnbridge.spec.errors import Rule, ShapeError, UsageError
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

__all__ = ["LayerConfig", "conv_configs", "pool_configs", "unique_values", "values"]


@dataclass(frozen=True)
class LayerConfig:
    """One drawn configuration: shapes as the batched kernels take them.

    ``c_out`` is the pooled channel count (``c_in``) for pools. ``out`` is the output
    spatial size (PyTorch's rule, equal to TorchLean's inside the drawn bounds).
    """

    op: str
    n: int
    c_in: int
    c_out: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    size: tuple[int, ...]
    out: tuple[int, ...]
    seed: int

    @property
    def rank(self) -> int:
        return len(self.size)

    def weight_shape(self) -> tuple[int, ...]:
        """``(C_out, C_in, *kernel)`` for conv, ``(C_in, C_out, *kernel)`` transposed."""
        if self.op == "conv_transpose":
            return (self.c_in, self.c_out, *self.kernel)
        return (self.c_out, self.c_in, *self.kernel)


def values(seed: int, mode: str, shape, scale: int = 1) -> np.ndarray:
    """Exact mode: integers in ``[-8, 8]`` (times ``scale``) as float64; float mode:
    standard normal float32."""
    rng = np.random.default_rng(seed)
    if mode == "exact":
        return (scale * rng.integers(-8, 9, size=shape)).astype(np.float64)
    return rng.standard_normal(shape).astype(np.float32)


def unique_values(seed: int, mode: str, shape) -> np.ndarray:
    """Distinct values (no ties in any window): a shuffled range, scaled in float mode."""
    rng = np.random.default_rng(seed)
    ranks = rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) // 2
    return ranks.astype(np.float64) if mode == "exact" else (ranks * 0.37).astype(np.float32)


def _ranks(ranks) -> st.SearchStrategy[int]:
    ranks = tuple(ranks)
    if not ranks or any(r not in (1, 2, 3) for r in ranks):
        raise UsageError(f"ranks must be drawn from 1, 2, 3 spatial axes, got {ranks!r}",
                         rule=Rule.PARAM_VALUE)
    return st.sampled_from(sorted(ranks))


@st.composite
def conv_configs(draw, transpose: bool = False, ranks=(1, 2, 3), max_channels: int = 3):
    """Conv (or transposed conv) configurations with Lean = PyTorch output sizes:
    ``n + 2p >= k`` (conv), ``(n - 1) s >= 2p`` (transposed)."""
    rank = draw(_ranks(ranks))
    n = draw(st.integers(1, 2))
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    kernel, stride, size, padding = [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 3))
        if transpose:
            m = draw(st.integers(1, 4))
            p = draw(st.integers(0, min(k - 1, (m - 1) * s // 2)))
        else:
            p = draw(st.integers(0, k - 1))
            m = draw(st.integers(max(1, k - 2 * p), 6 if rank < 3 else 4))
        kernel.append(k), stride.append(s), size.append(m), padding.append(p)
    formula = conv_transpose_out if transpose else conv_out
    out = formula(tuple(size), tuple(kernel), tuple(stride), tuple(padding), semantics="torch")
    return LayerConfig("conv_transpose" if transpose else "conv", n, c_in, c_out,
                       tuple(kernel), tuple(stride), tuple(padding), tuple(size), tuple(out),
                       draw(st.integers(0, 2**32 - 1)))


@st.composite
def pool_configs(draw, op: str = "max", ranks=(1, 2, 3), max_channels: int = 3):
    """Pool configurations with Lean = PyTorch output sizes: ``n >= k``, ``2p <= k``."""
    if op not in ("max", "avg"):
        raise ShapeError(f"pool op must be 'max' or 'avg', got {op!r}", rule=Rule.POOL_OP)
    rank = draw(_ranks(ranks))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, max_channels))
    kernel, stride, size, padding = [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        m = draw(st.integers(k, 7 if rank < 3 else 5))
        kernel.append(k), stride.append(s), size.append(m), padding.append(p)
    out = pool_out(tuple(size), tuple(kernel), tuple(stride), tuple(padding),
                   semantics="torch", op=op)
    return LayerConfig(f"{op}_pool", n, c, c, tuple(kernel), tuple(stride), tuple(padding),
                       tuple(size), tuple(out), draw(st.integers(0, 2**32 - 1)))
