"""Every kernel source compiles with nvcc for the GPU targets (PTX, no GPU needed)."""

import pytest
from nnbridge.kernels.backends import KernelSource, all_sources, backend_unavailable_reason
from nnbridge.kernels.nvcc_check import TARGETS, find_nvcc, nvcc_check

pytestmark = pytest.mark.skipif(find_nvcc() is None,
                                reason="nvcc is absent: CUDA's compiler is not installed here")

#: Valid C++ once the host prelude empties the qualifiers, invalid CUDA: a kernel calls a
#: plain host function.
HOST_ONLY = KernelSource("host_only", r"""
inline int host_helper(int v) { return v + 1; }
template <typename T>
__global__ void bump(T* y, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] += (T)host_helper(i);
}
""", ("bump",))

#: Valid CUDA that needs block cooperation: refused by the host prelude.
BARRIER = KernelSource("barrier", r"""
template <typename T>
__global__ void shift(T* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const T v = i + 1 < n ? y[i + 1] : (T)0;
  __syncthreads();
  if (i < n) y[i] = v;
}
""", ("shift",))


def test_every_source_compiles_for_every_target():
    results = nvcc_check()
    assert {(r.source, r.target) for r in results} == {
        (s.name, t) for s in all_sources() for t in TARGETS}
    bad = [(r.source, r.target, r.missing, r.log[-2000:]) for r in results if not r.ok]
    assert not bad, bad
    for r in results:
        source = next(s for s in all_sources() if s.name == r.source)
        assert len(r.entries) == 2 * len(source.kernels)


@pytest.mark.skipif(backend_unavailable_reason("host") is not None, reason="no C++ compiler")
def test_a_source_only_the_host_compiler_accepts_fails(tmp_path, monkeypatch):
    from nnbridge.kernels.host import HostBackend

    monkeypatch.setenv("NNBRIDGE_CACHE", str(tmp_path))
    HostBackend(sources=(HOST_ONLY,))  # g++ accepts it ...
    (result,) = nvcc_check((HOST_ONLY,), targets=("sm_90",))
    assert not result.ok  # ... nvcc does not
    assert "host_helper" in result.log


def test_a_missing_instantiation_is_reported():
    """A kernel named by the source but never defined fails the check."""
    ghost = KernelSource("ghost", HOST_ONLY.code.replace("inline int host_helper",
                                                         "__device__ inline int host_helper"),
                         ("bump", "not_defined"))
    (result,) = nvcc_check((ghost,), targets=("sm_90",))
    assert not result.ok


@pytest.mark.skipif(backend_unavailable_reason("host") is not None, reason="no C++ compiler")
def test_barrier_kernel_is_valid_cuda_but_refused_on_host(tmp_path, monkeypatch):
    from nnbridge.kernels import BackendUnavailable
    from nnbridge.kernels.host import HostBackend

    (result,) = nvcc_check((BARRIER,), targets=("sm_90",))
    assert result.ok, result.log
    monkeypatch.setenv("NNBRIDGE_CACHE", str(tmp_path))
    with pytest.raises(BackendUnavailable, match="nnbridge_host_has_no_barriers"):
        HostBackend(sources=(BARRIER,))
