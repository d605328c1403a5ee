"""The kernels' fixed-divisor division, on the host build of the same CUDA text, against
Python's integer division: edge cases and many random pairs over the whole int range."""

import numpy as np
import pytest
from nnbridge.kernels.backends import KernelSource, backend_unavailable_reason
from nnbridge.kernels.device import DEVICE_HELPERS

pytestmark = pytest.mark.skipif(backend_unavailable_reason("host") is not None,
                                reason="host backend unavailable (no C++ compiler)")

PROBE = r"""
template <typename T>
__global__ void divide(const int* __restrict__ n, const int* __restrict__ d,
                       int* __restrict__ q, int* __restrict__ r, int count) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (long long)blockDim.x * gridDim.x) {
    const nnb_divisor v = nnb_make_divisor(d[i]);
    q[i] = nnb_divmod(n[i], v, &r[i]);
  }
}
"""


def _pairs():
    rng = np.random.default_rng(0)
    top = 2**31 - 1
    small = np.arange(1, 3001)
    special = np.array([2**k + e for k in range(31) for e in (-1, 0, 1)
                        if 1 <= 2**k + e <= top] + [top, top - 1, 46341, 65535, 65537])
    divisors = np.concatenate([small, special, rng.integers(1, top, 20000, endpoint=True)])
    ns, ds = [], []
    for d in divisors:
        d = int(d)
        for n in (0, 1, d - 1, d, d + 1, 2 * d - 1, top, top - 1, top - d, top // d * d - 1):
            if 0 <= n <= top:
                ns.append(n)
                ds.append(d)
    ns += list(rng.integers(0, top, 200000, endpoint=True))
    ds += list(rng.integers(1, top, 100000, endpoint=True)) + list(rng.integers(1, 1025, 100000))
    return np.array(ns, dtype=np.int32), np.array(ds, dtype=np.int32)


def _divide(code, tmp_path, monkeypatch):
    from nnbridge.kernels.host import HostBackend

    monkeypatch.setenv("NNBRIDGE_CACHE", str(tmp_path))
    be = HostBackend(sources=(KernelSource("probe", code, ("divide",)),))
    n, d = _pairs()
    q, r = np.empty_like(n), np.empty_like(n)
    be.launch("divide", np.float32, n.size, (n, d, q, r, n.size))
    return n.astype(np.int64), d.astype(np.int64), q, r


def test_fixed_divisor_division_is_exact(tmp_path, monkeypatch):
    n, d, q, r = _divide(DEVICE_HELPERS + PROBE, tmp_path, monkeypatch)
    assert n.size > 400000
    wrong = np.flatnonzero((q != n // d) | (r != n % d))
    assert wrong.size == 0, list(zip(n[wrong[:5]], d[wrong[:5]], q[wrong[:5]], strict=True))


def test_planted_magic_rounding_is_caught(tmp_path, monkeypatch):
    """Rounding the multiplier down instead of up breaks some quotients."""
    floor = DEVICE_HELPERS.replace("((1ull << (31 + l)) + v.d - 1) / v.d",
                                   "(1ull << (31 + l)) / v.d")
    assert floor != DEVICE_HELPERS
    n, d, q, _ = _divide(floor + PROBE, tmp_path, monkeypatch)
    assert np.count_nonzero(q != n // d) > 0


def test_probe_is_valid_cuda_for_nvrtc():
    from nnbridge.kernels.nvrtc_check import find_nvrtc, nvrtc_check

    if find_nvrtc() is None:
        pytest.skip("NVRTC is absent: no nvidia-cuda-nvrtc wheel and no CUDA toolkit library")
    (result,) = nvrtc_check((KernelSource("probe", DEVICE_HELPERS + PROBE, ("divide",)),),
                            targets=("compute_90",))
    assert result.ok, result.log
