"""Hypothesis: every kernel against the NumPy spec, sample by sample, on every backend.

Strategies are built shape first (rank, batch, channels, then per axis kernel, stride,
size, padding with explicit bounds), then the values from a drawn seed, so a failure
shrinks to a minimal configuration. Exact mode: integer-valued float64, bit-equal. Float
mode: float32 within the tolerance derived in :mod:`nnbridge.kernels.crosscheck`.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.kernels.crosscheck import conv_checks, pool_checks
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

MODES = ("exact", "float")


def _values(seed, mode, shape, scale=1):
    rng = np.random.default_rng(seed)
    if mode == "exact":
        return (scale * rng.integers(-8, 9, size=shape)).astype(np.float64)
    return rng.standard_normal(shape).astype(np.float32)


def _unique(seed, mode, shape):
    """Distinct values (no ties in any window): a shuffled range, scaled in float mode."""
    rng = np.random.default_rng(seed)
    ranks = rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) // 2
    return ranks.astype(np.float64) if mode == "exact" else (ranks * 0.37).astype(np.float32)


@st.composite
def conv_configs(draw, transpose=False):
    rank = draw(st.integers(1, 3))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel, stride, size, padding = [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 3))
        if transpose:
            m = draw(st.integers(1, 4))
            p = draw(st.integers(0, min(k - 1, (m - 1) * s // 2)))  # Lean = PyTorch size
        else:
            p = draw(st.integers(0, k - 1))
            m = draw(st.integers(max(1, k - 2 * p), 6 if rank < 3 else 4))
        kernel.append(k), stride.append(s), size.append(m), padding.append(p)
    return (rank, n, c_in, c_out, tuple(kernel), tuple(stride), tuple(size), tuple(padding),
            draw(st.integers(0, 2**32 - 1)))


@st.composite
def pool_configs(draw):
    rank = draw(st.integers(1, 3))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel, stride, size, padding = [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        m = draw(st.integers(k, 7 if rank < 3 else 5))
        kernel.append(k), stride.append(s), size.append(m), padding.append(p)
    return (rank, n, c, tuple(kernel), tuple(stride), tuple(size), tuple(padding),
            draw(st.integers(0, 2**32 - 1)))


def _assert_all(results):
    failed = [r for r in results if not r.passed]
    assert not failed, failed


@pytest.mark.parametrize("mode", MODES)
@given(config=conv_configs())
def test_conv_matches_spec(backend, mode, config):
    rank, n, c_in, c_out, kernel, stride, size, padding, seed = config
    out = conv_out(size, kernel, stride, padding, semantics="torch")
    x = _values(seed, mode, (n, c_in, *size))
    w = _values(seed + 1, mode, (c_out, c_in, *kernel))
    b = _values(seed + 2, mode, (c_out,))
    grad_y = _values(seed + 3, mode, (n, c_out, *out))
    _assert_all(conv_checks(x, w, b, grad_y, stride, padding, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
@given(config=conv_configs(transpose=True))
def test_conv_transpose_matches_spec(backend, mode, config):
    rank, n, c_in, c_out, kernel, stride, size, padding, seed = config
    out = conv_transpose_out(size, kernel, stride, padding, semantics="torch")
    x = _values(seed, mode, (n, c_in, *size))
    w = _values(seed + 1, mode, (c_in, c_out, *kernel))
    b = _values(seed + 2, mode, (c_out,))
    grad_y = _values(seed + 3, mode, (n, c_out, *out))
    _assert_all(conv_checks(x, w, b, grad_y, stride, padding, mode, transpose=True,
                            backend=backend))


@pytest.mark.parametrize("mode", MODES)
@given(config=pool_configs())
def test_max_pool_matches_spec(backend, mode, config):
    rank, n, c, kernel, stride, size, padding, seed = config
    out = pool_out(size, kernel, stride, padding, semantics="torch")
    x = _unique(seed, mode, (n, c, *size))
    grad_y = _values(seed + 1, mode, (n, c, *out))
    _assert_all(pool_checks("max", x, grad_y, kernel, stride, padding, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
@given(config=pool_configs())
def test_avg_pool_matches_spec(backend, mode, config):
    rank, n, c, kernel, stride, size, padding, seed = config
    out = pool_out(size, kernel, stride, padding, semantics="torch", op="avg")
    x = _values(seed, mode, (n, c, *size))
    # exact mode: grad_y a multiple of the kernel volume, so grad_y / volume stays an integer
    grad_y = _values(seed + 1, mode, (n, c, *out), scale=math.prod(kernel))
    _assert_all(pool_checks("avg", x, grad_y, kernel, stride, padding, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
def test_max_pool_ties_first_maximum(backend, mode):
    """Windows full of ties: the gradient goes to the first maximum, as in the spec."""
    dtype = np.float64 if mode == "exact" else np.float32
    x = np.zeros((2, 2, 5, 6), dtype=dtype)
    x[:, :, 1:3, 2:4] = 1.0  # a plateau spanning several windows
    grad_y = _values(7, mode, (2, 2, 4, 5))
    _assert_all(pool_checks("max", x, grad_y, 2, 1, 0, mode, backend=backend))
    _assert_all(pool_checks("max", x, _values(8, mode, (2, 2, 3, 3)), 3, 2, 1, mode,
                            backend=backend))
