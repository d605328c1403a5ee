"""The conv launchers bound their im2col workspace: chunked batches give the same results."""

import numpy as np
import pytest
from nnbridge.kernels import convolution
from nnbridge.kernels.crosscheck import conv_checks
from nnbridge.kernels.strategies import values
from nnbridge.spec.shapes import conv_out, conv_transpose_out


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("mode", ["exact", "float"])
def test_one_sample_chunks_match_the_spec(backend, monkeypatch, transpose, mode):
    monkeypatch.setattr(convolution, "WORKSPACE_BYTES", 1)  # forces one sample per chunk
    n, c_in, c_out, size, k = 3, 2, 3, (5, 4), (3, 2)
    w_shape = (c_in, c_out, *k) if transpose else (c_out, c_in, *k)
    stride, padding = ((2, 2), (1, 0)) if transpose else ((1, 1), (0, 1))
    formula = conv_transpose_out if transpose else conv_out
    out = formula(size, k, stride, padding, semantics="torch")
    results = conv_checks(values(1, mode, (n, c_in, *size)), values(2, mode, w_shape),
                          values(3, mode, (c_out,)), values(4, mode, (n, c_out, *out)),
                          stride, padding, mode, transpose=transpose, backend=backend)
    failed = [r for r in results if not r.passed]
    assert len(results) == 4 and not failed, failed


def test_chunks_cover_the_batch_within_the_budget(monkeypatch):
    from nnbridge.kernels.geometry import conv_geometry

    g = conv_geometry("conv", (10, 4, 8, 8), (2, 4, 3, 3), None, 1, 1)
    per_sample = 4 * 9 * 64 * 8
    monkeypatch.setattr(convolution, "WORKSPACE_BYTES", 3 * per_sample + 1)
    chunks = convolution._chunks(g, 4, 8)
    assert chunks == [(0, 3), (3, 6), (6, 9), (9, 10)]
    monkeypatch.setattr(convolution, "WORKSPACE_BYTES", 2**40)
    assert convolution._chunks(g, 4, 8) == [(0, 10)]
    assert np.all(np.diff([a for a, _ in convolution._chunks(g, 4, 8)]) >= 0)
