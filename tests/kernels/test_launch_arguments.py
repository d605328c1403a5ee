"""Launches are checked against the kernel's parameter list, read from its source."""

import numpy as np
import pytest
from nnbridge.kernels.backends import (
    KernelSource,
    backend_unavailable_reason,
    check_launch_arguments,
    get_backend,
    kernel_parameters,
)
from nnbridge.kernels.convolution import SOURCE as CONV
from nnbridge.kernels.pooling import SOURCE as POOL


def test_parameters_read_from_the_source():
    params = kernel_parameters(POOL, "max_pool_backward")
    assert [p.code for p in params[:4]] == ["T*", "int*", "T*", "int"]
    assert [p.const for p in params[:3]] == [True, True, False]
    assert len(kernel_parameters(CONV, "im2col")) == 2 + 2 + 15


def test_unsupported_parameter_is_named():
    source = KernelSource("odd", "template <typename T>\n"
                          "__global__ void k(T* y, float scale) {}", ("k",))
    with pytest.raises(ValueError, match="unsupported parameter 'float scale'"):
        kernel_parameters(source, "k")


PARAMS = kernel_parameters(POOL, "max_pool_forward")


def _args(dtype=np.float32):
    x = np.zeros((1, 1, 4), dtype)
    return [x, np.zeros((1, 1, 2), dtype), np.zeros((1, 1, 2), np.int32), *([1] * 16)]


def test_well_formed_arguments_pass():
    check_launch_arguments("max_pool_forward", PARAMS, np.float32, tuple(_args()))


@pytest.mark.parametrize("change, message", [
    (lambda a: a[:-1], "18 arguments for 19 parameters"),
    (lambda a: [a[0].astype(np.float64), *a[1:]], "parameter x .* float32 array, got float64"),
    (lambda a: [*a[:2], a[2].astype(np.int64), *a[3:]], "parameter argmax .* int32 array"),
    (lambda a: [np.zeros((4, 2), np.float32).T, *a[1:]], "not contiguous"),
    (lambda a: [*a[:3], 2**31, *a[4:]], "planes.* does not fit a C int"),
    (lambda a: [*a[:3], 1.5, *a[4:]], "planes .* needs an integer, got float"),
    (lambda a: [3, *a[1:]], "parameter x .* needs an array, got int"),
])
def test_planted_launch_mistakes_are_refused(change, message):
    with pytest.raises(TypeError, match=message):
        check_launch_arguments("max_pool_forward", PARAMS, np.float32, tuple(change(_args())))


@pytest.mark.skipif(backend_unavailable_reason("host") is not None,
                    reason="host backend unavailable (no C++ compiler)")
def test_the_host_backend_checks_before_it_launches():
    be = get_backend("host")
    args = _args(np.float64)
    with pytest.raises(TypeError, match="max_pool_forward<float>: .* got float64"):
        be.launch("max_pool_forward", np.float32, 2, tuple(args))
    with pytest.raises(TypeError, match="18 arguments for 19"):
        be.launch("max_pool_forward", np.float64, 2, tuple(args[:-1]))
