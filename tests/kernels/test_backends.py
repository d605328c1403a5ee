"""Backend selection, the host build and its cache, and clear errors when one is missing."""

import subprocess

import nnbridge.kernels as K
import numpy as np
import pytest
from nnbridge.kernels import BackendUnavailable, available_backends, get_backend
from nnbridge.kernels.backends import BACKENDS, backend_unavailable_reason

needs_host = pytest.mark.skipif(backend_unavailable_reason("host") is not None,
                                reason="host backend unavailable (no C++ compiler)")


def test_default_is_the_fastest_available():
    available = available_backends()
    assert available == tuple(b for b in BACKENDS if b in available)
    if available:
        assert get_backend(None).name == available[0]


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(BackendUnavailable, match="unknown kernel backend 'tpu'"):
        K.conv(np.zeros((1, 1, 3)), np.zeros((1, 1, 1)), None, backend="tpu")
    with pytest.raises(BackendUnavailable, match="must be a name"):
        get_backend(3)


def test_missing_cupy_or_gpu_is_a_clear_error():
    reason = backend_unavailable_reason("cupy")
    if reason is None:
        pytest.skip("cupy backend available here")
    with pytest.raises(BackendUnavailable, match="'cupy' is not available: cupy backend"):
        K.max_pool(np.zeros((1, 1, 4)), 2, backend="cupy")
    assert "CuPy" in reason or "GPU" in reason or "CUDA" in reason


@needs_host
def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    from nnbridge.kernels.host import HostBackend

    monkeypatch.setenv("NNBRIDGE_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    with pytest.raises(BackendUnavailable, match=r"\$CXX='/nonexistent/g\+\+' is not an exec"):
        HostBackend()


@needs_host
def test_host_modules_are_cached_on_source_hash(tmp_path, monkeypatch):
    from nnbridge.kernels.backends import KernelSource, all_sources
    from nnbridge.kernels.host import HostBackend

    monkeypatch.setenv("NNBRIDGE_CACHE", str(tmp_path))
    compiles = []
    real_run = subprocess.run

    def counting_run(command, *args, **kwargs):
        if "-shared" in command:
            compiles.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    small = (all_sources()[1],)
    first = HostBackend(sources=small)
    assert len(compiles) == 1 and first.path.parent == tmp_path / "kernels"
    second = HostBackend(sources=small)
    assert len(compiles) == 1 and second.path == first.path  # cache hit, no compile
    changed = KernelSource(small[0].name, small[0].code + "\n// edited\n", small[0].kernels)
    third = HostBackend(sources=(changed,))
    assert len(compiles) == 2 and third.path != first.path
    x = np.arange(8.0).reshape(1, 1, 8)
    assert K.max_pool(x, 2, backend=second).tolist() == [[[1.0, 3.0, 5.0, 7.0]]]


@needs_host
def test_host_runs_any_launch_shape():
    """Grid-stride kernels: a launch with fewer threads than items still covers them all."""
    from nnbridge.kernels import backends

    be = get_backend("host")
    x = np.random.default_rng(0).standard_normal((2, 3, 50, 40))
    want = K.avg_pool(x, 2, backend=be)
    saved = backends._MAX_GRID
    try:
        backends._MAX_GRID = 3
        got = K.avg_pool(x, 2, backend=be)
    finally:
        backends._MAX_GRID = saved
    assert np.array_equal(got, want)


@needs_host
def test_results_follow_the_dtype():
    for dtype in (np.float32, np.float64):
        x = np.ones((1, 2, 5, 5), dtype=dtype)
        w = np.ones((3, 2, 3, 3), dtype=dtype)
        assert K.conv(x, w, None, 1, 1, backend="host").dtype == dtype
        assert K.max_pool(x, 2, backend="host").dtype == dtype


@needs_host
def test_empty_batch():
    x = np.zeros((0, 2, 5, 5))
    w = np.ones((3, 2, 3, 3))
    assert K.conv(x, w, None, backend="host").shape == (0, 3, 3, 3)
    assert K.max_pool(x, 2, backend="host").shape == (0, 2, 2, 2)


@pytest.mark.parametrize(("count", "message"), [
    (0, "no GPU is present (0 CUDA devices)"),
    (RuntimeError("cudaErrorNoDevice"), "no usable CUDA device (cudaErrorNoDevice)"),
])
def test_cupy_without_a_gpu_is_a_clear_error(monkeypatch, count, message):
    """CuPy importable but no device: the backend refuses, saying why (stub CuPy module)."""
    import sys
    import types

    from nnbridge.kernels.cupy_backend import CupyBackend

    def get_device_count():
        if isinstance(count, Exception):
            raise count
        return count

    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=get_device_count))
    monkeypatch.setitem(sys.modules, "cupy", stub)
    with pytest.raises(BackendUnavailable, match=message.replace("(", r"\(").replace(")", r"\)")):
        CupyBackend()


@needs_host
def test_non_contiguous_inputs_and_absent_bias():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(K.conv(view, w, None, 1, 1, backend="host"),
                                  K.conv(x, w, np.zeros(4), 1, 1, backend="host"))
    grad_y = rng.standard_normal((2, 4, 7, 6))
    grad_w, grad_b, _ = K.conv_vjp(x, w, None, grad_y, 1, 1, backend="host")
    np.testing.assert_allclose(grad_b, grad_y.sum(axis=(0, 2, 3)), rtol=1e-12)
    assert grad_w.shape == w.shape
