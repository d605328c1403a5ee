"""Bad input raises ShapeError naming the rule and the values, on every backend."""

import nnbridge.kernels as K
import numpy as np
import pytest
from nnbridge.spec.errors import Rule, ShapeError

X = np.zeros((2, 3, 6, 6))
W = np.zeros((4, 3, 3, 3))
B = np.zeros(4)
#: The output gradient of each VJP for X (conv: W, stride 1, no padding; pools: 2, 2).
VJPS = {
    "conv_vjp": (lambda be, g: K.conv_vjp(X, W, B, g, backend=be), (2, 4, 4, 4)),
    "conv_transpose_vjp": (lambda be, g: K.conv_transpose_vjp(X, W.transpose(1, 0, 2, 3), B,
                                                              g, backend=be), (2, 4, 8, 8)),
    "max_pool_vjp": (lambda be, g: K.max_pool_vjp(X, g, 2, backend=be), (2, 3, 3, 3)),
    "avg_pool_vjp": (lambda be, g: K.avg_pool_vjp(X, g, 2, backend=be), (2, 3, 3, 3)),
}


@pytest.mark.parametrize(
    ("call", "rule", "text"),
    [
        (lambda be: K.conv(np.zeros((3, 6, 6)), W, B, backend=be), "rank", "(3, 6, 6)"),
        (lambda be: K.conv(X, np.zeros((4, 3, 3)), B, backend=be), "rank", "(4, 3, 3)"),
        (lambda be: K.max_pool(np.zeros((6, 6)), 2, backend=be), "rank", "(6, 6)"),
        (lambda be: K.max_pool(np.zeros((1, 1, 2, 2, 2, 2)), 2, backend=be), "rank",
         "3, 4 or 5"),
        (lambda be: K.conv(X, np.zeros((4, 2, 3, 3)), B, backend=be), "channels", "2 input"),
        (lambda be: K.conv(X, W, np.zeros(5), backend=be), "shape_match", "(5,)"),
        (lambda be: K.conv(X, W.astype(np.float32), B, backend=be), "dtype_mix", "float32"),
        (lambda be: K.conv(X, W, B.astype(np.float32), backend=be), "dtype_mix", "b: float32"),
        (lambda be: K.max_pool_vjp(X, np.zeros((2, 3, 3, 3), np.float32), 2, backend=be),
         "dtype_mix", "grad_y: float32"),
        (lambda be: K.conv(X.astype(np.int64), W, B, backend=be), "dtype", "int64"),
        (lambda be: K.max_pool(X.astype(np.float16), 2, backend=be), "dtype", "float16"),
        (lambda be: K.conv(X.tolist(), W, B, backend=be), "array_type", "list"),
        (lambda be: K.conv(None, W, B, backend=be), "array_type", "None"),
        (lambda be: K.conv(X, None, B, backend=be), "array_type", "None"),
        (lambda be: K.conv(X, W, B, stride=0, backend=be), "stride_positive", "stride=(0, 0)"),
        (lambda be: K.conv(X, W, B, stride=(1, 2, 1), backend=be), "axis_count", "(1, 2, 1)"),
        (lambda be: K.conv(X, W, B, padding=-1, backend=be), "nonneg_size", "-1"),
        (lambda be: K.conv(X, np.zeros((4, 3, 9, 9)), B, backend=be), "lean_torch_divergence",
         "kernel_fits"),
        (lambda be: K.conv(X, W, B, stride=1.5, backend=be), "integer_size", "1.5"),
        (lambda be: K.conv(X, W, B, stride=True, backend=be), "integer_size", "True"),
        (lambda be: K.max_pool(X, 2, padding=None, backend=be), "integer_size", "None"),
        (lambda be: K.conv_vjp(X, W, B, np.zeros((2, 4, 5, 4)), backend=be), "shape_match",
         "(2, 4, 4, 4)"),
        (lambda be: K.conv_transpose(X, np.zeros((4, 3, 3, 3)), None, backend=be), "channels",
         "4 input"),
        (lambda be: K.max_pool(X, 2, padding=2, backend=be), "lean_torch_divergence",
         "padding=2"),
        (lambda be: K.max_pool(X, (2, 2, 2), backend=be), "axis_count", "(2, 2, 2)"),
        (lambda be: K.avg_pool_vjp(X, np.zeros((2, 3, 2, 2)), 2, backend=be), "shape_match",
         "(2, 3, 3, 3)"),
        (lambda be: K.max_pool(X, 0, backend=be), "kernel_positive", "kernel=(0, 0)"),
        (lambda be: K.max_pool(X, 2, stride=2**40, backend=be), "huge_size", "stride"),
    ],
)
def test_bad_input_names_rule_and_values(backend, call, rule, text):
    with pytest.raises(ShapeError) as info:
        call(backend)
    assert info.value.rule == rule, str(info.value)
    assert text in str(info.value)


@pytest.mark.parametrize("op", sorted(VJPS))
def test_a_missing_grad_y_is_refused(backend, op):
    """``grad_y=None`` used to reach ``grad_y.shape`` (AttributeError)."""
    call, _ = VJPS[op]
    with pytest.raises(ShapeError) as info:
        call(backend, None)
    assert info.value.rule == Rule.ARRAY_TYPE
    assert f"{op}: grad_y must be an array" in str(info.value) and "None" in str(info.value)


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.int32, np.uint8, np.complex128])
@pytest.mark.parametrize("op", sorted(VJPS))
def test_a_bool_or_integer_grad_y_is_refused_not_cast(backend, op, dtype):
    """A bool grad_y cast to 0/1 (or bytes read as floats) would give a wrong gradient."""
    call, shape = VJPS[op]
    with pytest.raises(ShapeError) as info:
        call(backend, np.ones(shape, dtype=dtype))
    assert info.value.rule == Rule.DTYPE
    assert str(np.dtype(dtype)) in str(info.value)


@pytest.mark.parametrize("op", sorted(VJPS))
def test_a_good_grad_y_is_taken(backend, op):
    """The refusals above are not vacuous: the same call with a float64 grad_y runs."""
    call, shape = VJPS[op]
    result = call(backend, np.ones(shape))
    assert result is not None


@pytest.mark.parametrize(
    ("call", "text"),
    [
        # a transposed conv whose output needs 4.3e9 elements (34 GB) from 8 MB of input
        (lambda be: K.conv_transpose(np.zeros((1, 1024, 1024)), np.zeros((1024, 4, 1)), None,
                                     2**20, backend=be), "the output of shape (1, 4, 1072693249)"),
        # a conv whose output is small but whose im2col columns of one sample need 69 GB
        (lambda be: K.conv(np.zeros((1, 8, 2**16)), np.zeros((1, 8, 2**15)), None, backend=be),
         "im2col workspace of one sample of shape (262144, 32769)"),
        # an operand that is a broadcast view: its contiguous copy would need 137 GB
        (lambda be: K.max_pool(np.broadcast_to(np.zeros((), np.float64), (2**16, 2**16, 4)), 2,
                               backend=be), "x of shape (65536, 65536, 4)"),
        (lambda be: K.avg_pool_vjp(X, np.broadcast_to(np.zeros(()), (2**16, 2**16, 3, 3)), 2,
                                   backend=be), "grad_y of shape (65536, 65536, 3, 3)"),
        # sizes the kernels' C int arithmetic cannot hold: in + 2p + s on one axis, a batch
        (lambda be: K.conv(np.broadcast_to(np.zeros(()), (2**31, 0, 5)), np.zeros((0, 0, 1)),
                           None, backend=be), "batch N = 2147483648"),
        (lambda be: K.conv_transpose(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), None, 2**31 - 1,
                                     backend=be), "in + 2 * padding + stride on axis 0"),
    ],
)
def test_sizes_beyond_the_limits_are_refused_before_allocating(backend, call, text):
    """Refused by rule ``too_large`` naming the size, not handed to the allocator (which
    would raise MemoryError, or worse, succeed and swap)."""
    with pytest.raises(ShapeError) as info:
        call(backend)
    assert info.value.rule == Rule.TOO_LARGE, str(info.value)
    assert text in str(info.value)


def test_kernels_refuse_where_the_spec_refuses(backend):
    """Where TorchLean's and PyTorch's sizes differ (transposed conv of one cell with
    padding 1: Lean 3, PyTorch 1), kernel and spec both refuse, with the same rule."""
    from nnbridge.spec.convolution import conv_transpose as spec_conv_transpose

    x, w, b = np.zeros((1, 2, 1)), np.zeros((2, 3, 3)), np.zeros(3)
    with pytest.raises(ShapeError) as spec_error:
        spec_conv_transpose(x[0], w, b, 1, 1)
    with pytest.raises(ShapeError) as kernel_error:
        K.conv_transpose(x, w, b, 1, 1, backend=backend)
    assert kernel_error.value.rule == spec_error.value.rule == "lean_torch_divergence"


def test_checking_helpers_refuse_an_unknown_pool_kind():
    from hypothesis import find
    from nnbridge.kernels.crosscheck import pool_checks
    from nnbridge.kernels.strategies import pool_configs

    with pytest.raises(ShapeError) as info:
        pool_checks("min", X, X, 2, 2, 0, "exact")
    assert info.value.rule == Rule.POOL_OP and "'min'" in str(info.value)
    with pytest.raises(ShapeError) as info:
        find(pool_configs("min"), lambda config: True)
    assert info.value.rule == Rule.POOL_OP


class _CudaArray:
    """What the launchers see of a CuPy array: ``__cuda_array_interface__``, shape, dtype."""

    __cuda_array_interface__: dict = {}

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def test_operands_take_gpu_arrays_by_their_dtype():
    """``checks.as_float_array`` takes NumPy arrays only; the launchers' thin wrapper also
    takes CUDA arrays, reading ``np.dtype(a.dtype)``, with the same rules."""
    from nnbridge.kernels.geometry import operands

    x = _CudaArray((2, 3, 4), np.dtype(np.float32))
    assert operands("conv", x=x)[0] is x
    for dtype, rule in [(np.dtype(np.int8), Rule.DTYPE), ("torch.float32", Rule.DTYPE),
                        (np.dtype(np.float64), Rule.DTYPE_MIX)]:
        with pytest.raises(ShapeError) as info:
            operands("conv", x=x, w=_CudaArray((4, 3, 1), dtype))
        assert info.value.rule == rule, str(info.value)
    with pytest.raises(ShapeError) as info:
        operands("conv", x=_CudaArray((2**20, 2**20, 4), np.dtype(np.float32)))
    assert info.value.rule == Rule.TOO_LARGE
