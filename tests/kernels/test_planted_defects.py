"""Every kind of kernel check catches a planted defect.

The defects are planted in the CUDA source itself (a copy, compiled by the host backend
into a separate module), so the checks see exactly what a wrong kernel would produce.
"""

import nnbridge.kernels as K
import numpy as np
import pytest
from nnbridge.kernels import conv
from nnbridge.kernels.backends import KernelSource, backend_unavailable_reason
from nnbridge.kernels.convolution import SOURCE as CONV
from nnbridge.kernels.crosscheck import compare, conv_checks, pool_checks
from nnbridge.kernels.pooling import SOURCE as POOL

pytestmark = pytest.mark.skipif(backend_unavailable_reason("host") is not None,
                                reason="host backend unavailable (no C++ compiler)")


def _mutate(source: KernelSource, old: str, new: str) -> KernelSource:
    assert source.code.count(old) == 1, f"planting failed: {old!r} not in {source.name}"
    return KernelSource(source.name, source.code.replace(old, new), source.kernels)


@pytest.fixture(scope="module")
def broken():
    """Host kernels with three planted defects: col2im's loop drops the last window along
    one axis (an off-by-one in the conv backward and the transposed conv forward), the last
    maximum instead of the first (max pool), and a divisor off by one (avg pool backward)."""
    from nnbridge.kernels.host import HostBackend

    conv_src = _mutate(CONV, "for (int u = u_lo; u <= u_hi; ++u)",
                       "for (int u = u_lo; u < u_hi; ++u)")
    pool_src = _mutate(POOL, "value > best", "value >= best")
    pool_src = _mutate(pool_src, "grad_x[idx] = acc / count;", "grad_x[idx] = acc / (count + 1);")
    return HostBackend(sources=(conv_src, pool_src))


def _ints(rng, shape, scale=1):
    return (scale * rng.integers(-8, 9, size=shape)).astype(np.float64)


@pytest.mark.parametrize("mode", ["exact", "float"])
def test_off_by_one_window_is_caught(broken, mode):
    rng = np.random.default_rng(0)
    cast = np.float64 if mode == "exact" else np.float32
    x, w, b = _ints(rng, (2, 3, 6, 5)), _ints(rng, (4, 3, 3, 3)), _ints(rng, (4,))
    grad_y = _ints(rng, (2, 4, 6, 5))
    args = [a.astype(cast) for a in (x, w, b, grad_y)]
    good = conv_checks(*args, 1, 1, mode, backend="host")
    bad = conv_checks(*args, 1, 1, mode, backend=broken)
    assert all(r.passed for r in good)
    failed = {r.name for r in bad if not r.passed}
    assert failed == {"conv.grad_x"}, bad
    wt, gyt = _ints(rng, (3, 4, 3, 3)), _ints(rng, (2, 4, 11, 9))
    bad_t = conv_checks(x.astype(cast), wt.astype(cast), b.astype(cast), gyt.astype(cast),
                        2, 1, mode, transpose=True, backend=broken)
    assert "conv_transpose.y" in {r.name for r in bad_t if not r.passed}, bad_t


def test_last_maximum_is_caught_on_ties(broken):
    x = np.zeros((1, 2, 4, 4))
    x[:, :, 1:3, 1:3] = 5.0
    grad_y = _ints(np.random.default_rng(1), (1, 2, 3, 3))
    assert all(r.passed for r in pool_checks("max", x, grad_y, 2, 1, 0, "exact",
                                             backend="host"))
    bad = pool_checks("max", x, grad_y, 2, 1, 0, "exact", backend=broken)
    assert {r.name for r in bad if not r.passed} == {"max_pool.grad_x"}, bad


def test_a_max_pool_that_ignores_nan_is_caught():
    """The kernel as it was: NaN cells skipped (``NaN > best`` is false), so a window with a
    NaN reported its largest number, where PyTorch and the spec give NaN."""
    from nnbridge.kernels.host import HostBackend

    ignores_nan = HostBackend(sources=(CONV, _mutate(POOL, "if (value != value) nan_at = at;",
                                                    "")))
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 2] = x[0, 0, 3, 0] = np.nan
    grad_y = _ints(np.random.default_rng(4), (1, 1, 2, 2))
    good = pool_checks("max", x, grad_y, 2, 2, 0, "exact", backend="host")
    assert all(r.passed for r in good), good
    bad = pool_checks("max", x, grad_y, 2, 2, 0, "exact", backend=ignores_nan)
    assert {r.name for r in bad if not r.passed} == {"max_pool.y", "max_pool.grad_x"}, bad


def test_avg_divisor_is_caught(broken):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    grad_y = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    bad = pool_checks("avg", x, grad_y, 2, 2, 0, "float", backend=broken)
    assert {r.name for r in bad if not r.passed} == {"avg_pool.grad_x"}, bad


def test_float32_tolerance_is_not_vacuous():
    """One dropped unit term, or TF32-like rounding (2**-11 relative), exceeds the bound."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, dtype=np.float32)
    y = conv(x, w, b, 1, 1, backend="host")
    from nnbridge.spec.convolution import conv as spec_conv

    want = np.stack([spec_conv(x[n].astype(np.float64), w.astype(np.float64),
                               b.astype(np.float64), 1, 1) for n in range(2)])
    mag = np.stack([spec_conv(np.abs(x[n]).astype(np.float64), np.abs(w).astype(np.float64),
                              b.astype(np.float64), 1, 1) for n in range(2)])
    length = 3 * 9 + 1
    assert compare("y", y, want, "float", mag, length).passed
    tf32 = y * np.float32(1 + 2.0**-11)
    assert not compare("y", tf32, want, "float", mag, length).passed
    dropped = y.copy()
    dropped[0, 0, 4, 4] -= x[0, 0, 4, 4] * w[0, 0, 1, 1]  # drop the centre tap once
    assert not compare("y", dropped, want, "float", mag, length).passed


def test_exact_mode_demands_bit_equality():
    want = np.arange(6.0).reshape(2, 3)
    assert compare("y", want.copy(), want, "exact").passed
    assert not compare("y", want + 2.0**-40, want, "exact").passed
    assert not compare("y", want.astype(np.float32), want, "exact").passed
    assert not compare("y", want[:1], want, "exact").passed


def test_kernel_modules_expose_their_sources():
    assert set(CONV.kernels) == {"im2col", "col2im"}
    assert set(POOL.kernels) == {"max_pool_forward", "max_pool_backward", "avg_pool_forward",
                                 "avg_pool_backward"}


def test_kernel_adjoint_entries_exist_for_every_available_backend():
    from nnbridge.kernels import available_backends

    from nnbridge.adjoint import registry

    names = {e.name for e in registry("kernels.")}
    for name in available_backends():
        for op in ("conv2d.wbx", "conv_transpose3d.x", "avg_pool1d", "max_pool2d"):
            assert f"kernels.{name}.{op}" in names


def test_adjoint_check_catches_the_planted_backward_defect(broken):
    from nnbridge.adjoint import Entry, check_adjoint
    from nnbridge.adjoint.entries_kernels import _avg_case, _conv_case

    for build in (lambda s: _conv_case(s, broken, 2, "x", False),
                  lambda s: _conv_case(s, broken, 1, "w", True),
                  lambda s: _avg_case(s, broken, 2)):
        assert not check_adjoint(Entry("broken", build), "exact").passed
        assert not check_adjoint(Entry("broken", build), "float64").passed
    good = Entry("good", lambda s: _conv_case(s, K.get_backend("host"), 2, "x", False))
    assert check_adjoint(good, "exact").passed


def test_verify_step_passes_and_fails_on_planted_defects(broken, capsys):
    from nnbridge.kernels.verify import verify_kernels

    assert verify_kernels(["host"], nvcc=False)
    assert "kernels vs spec on backend 'host'" in capsys.readouterr().out
    assert not verify_kernels([broken], nvcc=False)
    assert "FAIL" in capsys.readouterr().out
