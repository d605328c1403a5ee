"""Every kernel source compiles with NVRTC as the cupy backend builds it (no GPU needed)."""

import pytest
from nnbridge.kernels.backends import KernelSource, all_sources, kernel_parameters
from nnbridge.kernels.cupy_backend import name_expressions
from nnbridge.kernels.nvcc_check import find_nvcc, nvcc_check
from nnbridge.kernels.nvrtc_check import (
    TARGETS,
    demangle_parameters,
    find_nvrtc,
    nvrtc_check,
    nvrtc_version,
)

pytestmark = pytest.mark.skipif(
    find_nvrtc() is None,
    reason="NVRTC is absent: no nvidia-cuda-nvrtc wheel and no CUDA toolkit library here")

#: Valid for nvcc (host headers are there) but not for NVRTC, which has no host headers:
#: exactly what CuPy would meet on the first GPU.
HOST_HEADER = KernelSource("host_header", r"""
#include <vector>
template <typename T>
__global__ void bump(T* __restrict__ y, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] += (T)1;
}
""", ("bump",))

#: Two pointers to const T: the mangled name reuses a substitution (``PKT_S1_``).
TWO_INPUTS = KernelSource("two_inputs", r"""
template <typename T>
__global__ void add(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                    int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    c[i] = a[i] + b[i];
}
""", ("add",))

#: The source text says ``int n`` but the compiler sees ``long long n``: a launcher passing
#: a 4-byte int would hand the GPU garbage in the upper half.
WIDENED = KernelSource("widened", r"""
#define int long long
template <typename T>
__global__ void fill(T* __restrict__ y, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] = (T)i;
}
#undef int
""", ("fill",))


def test_every_source_builds_as_the_cupy_backend_builds_it():
    assert nvrtc_version() is not None
    results = nvrtc_check()
    assert {(r.source, r.target) for r in results} == {
        (s.name, t) for s in all_sources() for t in TARGETS}
    bad = [(r.source, r.target, r.missing, r.mismatched, r.log[-2000:])
           for r in results if not r.ok]
    assert not bad, bad
    for r in results:
        source = next(s for s in all_sources() if s.name == r.source)
        assert sorted(r.lowered) == sorted(name_expressions(source))


def test_a_host_header_passes_nvcc_but_fails_nvrtc():
    if find_nvcc() is not None:
        (with_nvcc,) = nvcc_check((HOST_HEADER,), targets=("sm_90",))
        assert with_nvcc.ok, with_nvcc.log
    (result,) = nvrtc_check((HOST_HEADER,), targets=("compute_90",))
    assert not result.ok
    assert "vector" in result.log


def test_an_undefined_kernel_is_missing():
    ghost = KernelSource("ghost", TWO_INPUTS.code, ("add", "not_defined"))
    with pytest.raises(ValueError, match="defines kernel 'not_defined' 0 times"):
        kernel_parameters(ghost, "not_defined")
    (result,) = nvrtc_check((KernelSource("ghost", TWO_INPUTS.code + "\n" + r"""
template <typename T> __global__ void not_defined(T* y, int n);
""", ("add", "not_defined")),), targets=("compute_90",))
    assert not result.ok
    assert set(result.missing) == {"not_defined<float>", "not_defined<double>"}


def test_compiled_signature_is_the_one_the_launchers_check():
    (result,) = nvrtc_check((TWO_INPUTS,), targets=("compute_90",))
    assert result.ok, (result.mismatched, result.log)
    assert demangle_parameters(result.lowered["add<double>"], "add") == (
        "const T*", "const T*", "T*", "int")


def test_a_signature_the_text_misstates_is_caught():
    assert [p.code for p in kernel_parameters(WIDENED, "fill")] == ["T*", "int"]
    (result,) = nvrtc_check((WIDENED,), targets=("compute_90",))
    assert not result.ok
    assert set(result.mismatched) == {"fill<float>", "fill<double>"}
    assert not result.missing


def test_demangle_refuses_other_forms():
    assert demangle_parameters("_Z4fillIfEvPT_x", "fill") is None  # long long
    assert demangle_parameters("_Z4fillIfEvPT_i", "other") is None
    assert demangle_parameters("_Z4fillIfEvPT_i", "fill") == ("T*", "int")
