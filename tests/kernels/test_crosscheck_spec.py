"""Hypothesis: every kernel against the NumPy spec, sample by sample, on every backend.

Strategies are built shape first (rank, batch, channels, then per axis kernel, stride,
size, padding with explicit bounds), then the values from a drawn seed, so a failure
shrinks to a minimal configuration. Exact mode: integer-valued float64, bit-equal. Float
mode: float32 within the tolerance derived in :mod:`nnbridge.kernels.crosscheck`.
"""

import numpy as np
import pytest
from hypothesis import given
from nnbridge.kernels.crosscheck import pool_checks
from nnbridge.kernels.implementation import run_config
from nnbridge.kernels.strategies import conv_configs, pool_configs, values

MODES = ("exact", "float")


def _assert_all(results):
    failed = [r for r in results if not r.passed]
    assert not failed, failed
    assert results


@pytest.mark.parametrize("mode", MODES)
@given(config=conv_configs())
def test_conv_matches_spec(backend, mode, config):
    _assert_all(run_config("conv", config, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
@given(config=conv_configs(transpose=True))
def test_conv_transpose_matches_spec(backend, mode, config):
    _assert_all(run_config("conv_transpose", config, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
@given(config=pool_configs("max"))
def test_max_pool_matches_spec(backend, mode, config):
    """Unique values: no ties, so the first-maximum rule is not what is tested here."""
    _assert_all(run_config("max_pool", config, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
@given(config=pool_configs("avg"))
def test_avg_pool_matches_spec(backend, mode, config):
    """Exact mode draws grad_y as multiples of the window volume (integral quotients)."""
    _assert_all(run_config("avg_pool", config, mode, backend=backend))


@pytest.mark.parametrize("mode", MODES)
def test_max_pool_ties_first_maximum(backend, mode):
    """Windows full of ties: the gradient goes to the first maximum, as in the spec."""
    dtype = np.float64 if mode == "exact" else np.float32
    x = np.zeros((2, 2, 5, 6), dtype=dtype)
    x[:, :, 1:3, 2:4] = 1.0  # a plateau spanning several windows
    grad_y = values(7, mode, (2, 2, 4, 5))
    _assert_all(pool_checks("max", x, grad_y, 2, 1, 0, mode, backend=backend))
    _assert_all(pool_checks("max", x, values(8, mode, (2, 2, 3, 3)), 3, 2, 1, mode,
                            backend=backend))
