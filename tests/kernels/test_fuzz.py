"""Fuzz every public kernel entry point with bad and good arguments, drawn shape first.

Each example draws an op's whole call: the spatial rank, the batch and channel counts, per
axis the size, kernel, stride and padding, then for each argument whether it is good or how
it is bad (a wrong rank, a zero or huge size, a bool, float or string where an int belongs,
a wrong dtype or a second dtype, a shape that does not match, None, a list, a torch tensor),
and only then the values. The outcome must be one of two:

* a :class:`~nnbridge.spec.errors.ShapeError` naming a :class:`~nnbridge.spec.errors.Rule`;
* a result equal to the spec (:mod:`nnbridge.spec.convolution`, :mod:`nnbridge.spec.pool`) applied
  to each sample of the batch, parameter gradients summed over the batch.

Any other exception fails the test (Hypothesis shrinks it to a minimal call). Each run
must see both outcomes, so neither half is vacuous.
"""

from __future__ import annotations

import math
from collections import Counter

import nnbridge.kernels as K
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from nnbridge.spec.checks import agreed_sizes
from nnbridge.spec.convolution import conv as spec_conv
from nnbridge.spec.convolution import conv_transpose as spec_conv_transpose
from nnbridge.spec.convolution import conv_transpose_vjp as spec_conv_transpose_vjp
from nnbridge.spec.convolution import conv_vjp as spec_conv_vjp
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.pool import avg_pool as spec_avg_pool
from nnbridge.spec.pool import avg_pool_vjp as spec_avg_pool_vjp
from nnbridge.spec.pool import max_pool as spec_max_pool
from nnbridge.spec.pool import max_pool_vjp as spec_max_pool_vjp
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

OPS = ("conv", "conv_vjp", "conv_transpose", "conv_transpose_vjp", "max_pool", "max_pool_vjp",
       "avg_pool", "avg_pool_vjp")
#: Examples per op and backend (the profile's other settings stay: derandomized under CI).
EXAMPLES = 150

HUGE = (2**31 - 1, 2**31, 2**33, 2**40, 2**64)
#: Values that are not a valid size, stride or padding (or are, but absurd).
BAD_INTS = (-1, -2**40, 0, True, False, 1.5, 2.0, float("nan"), float("inf"), "2", b"2",
            np.float64(2.0), np.bool_(True), np.array([1, 2]), [], (), {}, *HUGE)
BAD_DTYPES = (np.float16, np.int64, np.int32, np.uint8, np.bool_, np.complex128)


def _bad(data, label: str, denominator: int = 10) -> bool:
    """Whether this argument is drawn bad (one time in ``denominator``; Hypothesis shrinks
    towards 0, so towards good arguments: a counterexample keeps only the bad ones it
    needs)."""
    return data.draw(st.integers(0, denominator - 1), label=f"{label} bad?") == denominator - 1


def _per_axis(data, label: str, good: list[int], rank: int):
    """A stride, padding or kernel: mostly one int per axis (as an int, a tuple, a list or
    NumPy ints), else a bad value or a tuple of the wrong length or with a bad entry."""
    if _bad(data, label):
        how = data.draw(st.sampled_from(["value", "length", "entry"]), label=f"{label} how")
        if how == "value":
            return data.draw(st.sampled_from(BAD_INTS), label=label)
        if how == "length":
            length = data.draw(st.sampled_from([n for n in (0, 1, 2, 3, 4) if n != rank]))
            return tuple(good[:1] * length)
        entry = data.draw(st.sampled_from(BAD_INTS), label=f"{label} entry")
        return tuple(good[:-1]) + (entry,)
    form = data.draw(st.sampled_from(["tuple", "int", "list", "numpy"]), label=f"{label} form")
    if form == "int" and len(set(good)) == 1:
        return good[0]
    if form == "list":
        return list(good)
    if form == "numpy":
        return tuple(np.int64(v) for v in good)
    return tuple(good)


def _dim(data, label: str, low: int, high: int, budget: list) -> int:
    """One array dimension: mostly in ``[low, high]``, sometimes 0 or huge (at most one huge
    dimension per call, ``budget``: NumPy cannot even describe an array of 2**64 cells)."""
    if _bad(data, label, 20):
        sizes = [0, 2**31, 2**33] if budget else [0]
        size = data.draw(st.sampled_from(sizes), label=label)
        if size:
            budget.pop()
        return size
    return data.draw(st.integers(low, high), label=label)


def _shape(data, label: str, good: tuple[int, ...]) -> tuple[int, ...]:
    """``good``, or a shape that is wrong: one axis more or fewer, or one size changed."""
    if not _bad(data, f"{label} shape"):
        return good
    how = data.draw(st.sampled_from(["drop", "add", "change"]), label=f"{label} shape how")
    if how == "drop" and good:
        return good[:-1]
    if how == "add":
        return good + (2,)
    axis = data.draw(st.integers(0, max(0, len(good) - 1)), label=f"{label} axis")
    size = data.draw(st.integers(0, 7), label=f"{label} size")
    return good[:axis] + (size,) + good[axis + 1:] if good else (size,)


def _array(data, label: str, shape, dtype, *, specials: bool = False):
    """An operand of ``shape``: integer values in [-4, 4] (every sum the kernels and the spec
    form is exact), NaN and infinities in it when ``specials``; a broadcast view when the
    shape is too large to hold; or, drawn bad, another dtype or no array at all."""
    if _bad(data, f"{label} array"):
        how = data.draw(st.sampled_from(["dtype", "mixed", "none", "list", "scalar", "torch"]),
                        label=f"{label} how")
        if how == "dtype":
            dtype = data.draw(st.sampled_from(BAD_DTYPES), label=f"{label} dtype")
        elif how == "mixed":
            dtype = np.float32 if np.dtype(dtype) == np.float64 else np.float64
        elif how == "none":
            return None
        elif how == "scalar":
            return 1.0
    else:
        how = "good"
    if math.prod(shape) > 10**5 or max(shape, default=0) > 10**4:
        # a view of one element: big shapes cost no memory (the kernels must refuse them),
        # empty ones with a huge axis neither (as a list they would: 2**33 empty lists)
        return np.broadcast_to(np.zeros((), dtype=dtype), shape)
    seed = data.draw(st.integers(0, 2**32 - 1), label=f"{label} seed")
    rng = np.random.default_rng(seed)
    values = rng.integers(-4, 5, size=shape).astype(np.float64)
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    if specials and floating and data.draw(st.booleans(), label=f"{label} specials"):
        u = rng.random(shape)
        values[u < 0.1] = np.nan
        values[(u >= 0.1) & (u < 0.2)] = -np.inf
        values[(u >= 0.2) & (u < 0.25)] = np.inf
    a = values.astype(dtype) if np.dtype(dtype) != np.bool_ else values > 0
    if how == "list":
        return a.tolist()
    if how == "torch":
        import torch

        return torch.from_numpy(np.ascontiguousarray(a))
    if data.draw(st.booleans(), label=f"{label} fortran"):
        a = np.asfortranarray(a)  # not C-contiguous: the launchers copy
    return a


def _out(formula, spatial, kernel, stride, padding, **kw):
    """The output sizes, when the drawn arguments have one (else None)."""
    try:
        return agreed_sizes("fuzz", formula, spatial, kernel, stride, padding, **kw)
    except (ShapeError, TypeError, ValueError, OverflowError):
        return None


def draw_call(data, op: str):
    """``(kwargs, dtype)``: one call of ``op``, drawn shape first."""
    rank = data.draw(st.integers(1, 3), label="rank")
    huge = [True]  # the one huge dimension this call may have
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    n = _dim(data, "N", 1, 2, huge)
    c_in = _dim(data, "C_in", 1, 3, huge)
    top = 7 if rank < 3 else 5
    spatial = tuple(_dim(data, f"size[{i}]", 1, top, huge) for i in range(rank))
    if _bad(data, "x rank", 16):
        x_shape = data.draw(st.sampled_from([(), (n,), (n, c_in), (1, 1, 1, 1, 1, 1)]))
    else:
        x_shape = (n, c_in, *spatial)
    x = _array(data, "x", x_shape, dtype, specials=op.startswith("max_pool"))
    if op.startswith("conv"):
        transpose = op.startswith("conv_transpose")
        c_out = _dim(data, "C_out", 1, 3, huge)
        k = [data.draw(st.integers(1, 3), label=f"kernel[{i}]") for i in range(rank)]
        kernel = tuple(_dim(data, f"kernel[{i}]", v, v, huge) for i, v in enumerate(k))
        w_shape = _shape(data, "w", ((c_in, c_out) if transpose else (c_out, c_in)) + kernel)
        w = _array(data, "w", w_shape, dtype)
        b = (None if data.draw(st.booleans(), label="no bias")
             else _array(data, "b", _shape(data, "b", (c_out,)), dtype))
        s = [data.draw(st.integers(1, 3), label=f"stride[{i}]") for i in range(rank)]
        p = [data.draw(st.integers(0, 2), label=f"padding[{i}]") for i in range(rank)]
        kwargs = {"x": x, "w": w, "b": b, "stride": _per_axis(data, "stride", s, rank),
                  "padding": _per_axis(data, "padding", p, rank)}
        formula = conv_transpose_out if transpose else conv_out
        out = _out(formula, spatial, kernel, tuple(s), tuple(p))
        y_shape = (n, c_out, *(out or spatial))
    else:
        k = [data.draw(st.integers(1, 3), label=f"kernel[{i}]") for i in range(rank)]
        s = [data.draw(st.integers(1, 3), label=f"stride[{i}]") for i in range(rank)]
        p = [data.draw(st.integers(0, v // 2), label=f"padding[{i}]") for i, v in enumerate(k)]
        default_stride = data.draw(st.booleans(), label="stride=None")
        kwargs = {"x": x, "kernel": _per_axis(data, "kernel", k, rank),
                  "stride": None if default_stride else _per_axis(data, "stride", s, rank),
                  "padding": _per_axis(data, "padding", p, rank)}
        kind = op.split("_")[0]
        out = _out(pool_out, spatial, tuple(k), tuple(k if default_stride else s), tuple(p),
                   op=kind)
        y_shape = (n, c_in, *(out or spatial))
    if op.endswith("_vjp"):
        kwargs["grad_y"] = _array(data, "grad_y", _shape(data, "grad_y", y_shape), dtype)
    return kwargs


def call_kernel(op: str, kwargs: dict, backend: str):
    fn = getattr(K, op)
    if op.startswith("conv"):
        args = [kwargs["x"], kwargs["w"], kwargs["b"]]
        if op.endswith("_vjp"):
            args.append(kwargs["grad_y"])
        return fn(*args, kwargs["stride"], kwargs["padding"], backend=backend)
    args = [kwargs["x"]] + ([kwargs["grad_y"]] if op.endswith("_vjp") else [])
    return fn(*args, kwargs["kernel"], kwargs["stride"], kwargs["padding"], backend=backend)


SPEC = {"conv": spec_conv, "conv_vjp": spec_conv_vjp, "conv_transpose": spec_conv_transpose,
        "conv_transpose_vjp": spec_conv_transpose_vjp, "max_pool": spec_max_pool,
        "max_pool_vjp": spec_max_pool_vjp, "avg_pool": spec_avg_pool,
        "avg_pool_vjp": spec_avg_pool_vjp}


def spec_result(op: str, kwargs: dict, like):
    """The spec on each sample (a ShapeError here, after the kernel accepted, fails the
    test: the kernels must refuse where the spec does). ``like`` is the kernel's result,
    for the shapes of an empty batch."""
    x = kwargs["x"]
    fn = SPEC[op]
    if op.startswith("conv"):
        w = kwargs["w"]
        b = kwargs["b"]
        c_out = w.shape[1] if op.startswith("conv_transpose") else w.shape[0]
        b = np.zeros(c_out, dtype=x.dtype) if b is None else b
        rest = (kwargs["stride"], kwargs["padding"])

        def sample(i):
            if op.endswith("_vjp"):
                return fn(x[i], w, b, kwargs["grad_y"][i], *rest)
            return fn(x[i], w, b, *rest)
    else:
        rest = (kwargs["kernel"], kwargs["stride"], kwargs["padding"])

        def sample(i):
            if op.endswith("_vjp"):
                return fn(x[i], kwargs["grad_y"][i], *rest)
            return fn(x[i], *rest)

    if x.shape[1] == 0 and not op.startswith("conv"):
        # zero channels: nothing to compare but the shape (the spec's pools reshape an
        # empty window array, which NumPy refuses)
        return np.zeros(like.shape, dtype=x.dtype)
    samples = [sample(i) for i in range(x.shape[0])]
    if op in ("conv_vjp", "conv_transpose_vjp"):
        if not samples:
            return (np.zeros_like(like[0]), np.zeros_like(like[1]), np.zeros_like(like[2]))
        gw, gb, gx = zip(*samples, strict=True)
        return (np.sum(gw, axis=0), np.sum(gb, axis=0), np.stack(gx))
    return np.stack(samples) if samples else np.zeros(like.shape, dtype=x.dtype)


def _same(got, want, dtype) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def run_one(data, op: str, backend: str) -> str:
    """One drawn call: ``"refused"`` (a ShapeError with a Rule) or ``"result"`` (equal to
    the spec); anything else raises."""
    kwargs = draw_call(data, op)
    try:
        result = call_kernel(op, kwargs, backend)
    except ShapeError as exc:
        assert isinstance(exc.rule, Rule), exc.rule
        assert str(exc), "an error must say what is wrong"
        event(f"refused [{exc.rule.value}]")
        return "refused"
    be = K.get_backend(backend)
    dtype = kwargs["x"].dtype
    if isinstance(result, tuple):
        got = tuple(be.to_numpy(r) for r in result)
        want = spec_result(op, kwargs, got)
        for g, w in zip(got, want, strict=True):
            _same(g, w, dtype)
    else:
        got = be.to_numpy(result)
        _same(got, spec_result(op, kwargs, got), dtype)
    event("result")
    return "result"


@pytest.mark.parametrize("op", OPS)
def test_every_entry_point_refuses_by_rule_or_agrees_with_the_spec(backend, op):
    counts: Counter = Counter()

    @settings(max_examples=EXAMPLES)
    @given(data=st.data())
    def fuzz(data):
        counts[run_one(data, op, backend)] += 1

    fuzz()
    assert counts["result"] > 0 and counts["refused"] > 0, counts
