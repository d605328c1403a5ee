"""PyTorch's pooling options in the spec, against ``torch.nn.functional``.

For max pool (dilation, ceil_mode, return_indices), average pool (ceil_mode,
count_include_pad, divisor_override), adaptive average and max pool (any output size) and the
batch axis, Hypothesis draws a geometry shape first (rank, kernel, stride, padding, options,
then sizes PyTorch accepts) and then the operand:

* float64: the spec forward and VJP equal ``F.{max,avg}_pool{1,2,3}d`` /
  ``F.adaptive_{avg,max}_pool{1,2,3}d`` and autograd to 1e-12, and the indices equal
  PyTorch's;
* the JVP agrees with central differences, and the VJP is its adjoint;
* planted defects (ceil_mode's last window dropped, indices off by one row,
  count_include_pad ignored) make the same comparison fail;
* bad options raise a ShapeError naming the rule and the values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.formulas import pool_out
from nnbridge.spec.ops import get_op
from nnbridge.spec.pool import (
    adaptive_avg_pool,
    adaptive_avg_pool_jvp,
    adaptive_avg_pool_vjp,
    adaptive_max_pool,
    adaptive_max_pool_jvp,
    adaptive_max_pool_vjp,
    avg_pool,
    avg_pool_jvp,
    avg_pool_vjp,
    max_pool,
    max_pool_jvp,
    max_pool_vjp,
)

from nnbridge.adjoint import Case, check_adjoint, check_jvp

torch.set_num_threads(1)

TOLERANCE = 1e-12
KINDS = ("max", "avg", "adaptive_avg", "adaptive_max")
SPEC = {
    "max": (max_pool, max_pool_vjp, max_pool_jvp),
    "avg": (avg_pool, avg_pool_vjp, avg_pool_jvp),
    "adaptive_avg": (adaptive_avg_pool, adaptive_avg_pool_vjp, adaptive_avg_pool_jvp),
    "adaptive_max": (adaptive_max_pool, adaptive_max_pool_vjp, adaptive_max_pool_jvp),
}


# --------------------------------------------------------------------------------------
# geometries, shape first
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    kind: str
    x: tuple[int, ...]
    args: tuple            # positional: (kernel, stride, padding) or (output_size,)
    options: dict

    @property
    def rank(self) -> int:
        return len(self.args[0])

    @property
    def batched(self) -> bool:
        return len(self.x) == self.rank + 2


def _reads_input(n, k, s, p, d, out) -> bool:
    """Every window ``o*s - p + j*d`` (``j < k``) meets a cell of ``0..n-1``."""
    return all(any(0 <= o * s - p + j * d < n for j in range(k)) for o in range(out))


@st.composite
def geometries(draw, kind: str) -> Geometry:
    rank = draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (1,), (2,)]))
    channels = draw(st.integers(1, 2))
    if kind.startswith("adaptive"):
        size = tuple(draw(st.integers(1, 7)) for _ in range(rank))
        out = tuple(draw(st.one_of(st.integers(1, 9), st.none())) for _ in range(rank))
        return Geometry(kind, (*lead, channels, *size), (out,), {})
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    options = {"ceil_mode": draw(st.booleans())}
    if kind == "max":
        options["dilation"] = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    else:
        options["count_include_pad"] = draw(st.booleans())
        options["divisor_override"] = draw(st.sampled_from([None, 1, 3, 4]))
    dilation = options.get("dilation", (1,) * rank)

    def fits(axis, n):
        args = (n, kernel[axis], stride[axis], padding[axis], dilation[axis])
        try:
            out = pool_out(*args, options["ceil_mode"], semantics="torch", op=kind, rank=rank)
        except ShapeError:
            return False
        return _reads_input(*args, out)

    size = []
    for axis in range(rank):
        inside = [n for n in range(1, 9) if fits(axis, n)]
        size.append(draw(st.sampled_from(inside)))
    return Geometry(kind, (*lead, channels, *size), (kernel, stride, padding), options)


def operand(g: Geometry, seed: int) -> np.ndarray:
    """Distinct values (no ties for the max pools), float64."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(g.x))
    return (rng.permutation(n) / max(n, 1) - 0.5 + 0.01 * rng.random(n)).reshape(g.x)


# --------------------------------------------------------------------------------------
# PyTorch's values
# --------------------------------------------------------------------------------------
def torch_pool(g: Geometry, x: torch.Tensor, return_indices: bool = False):
    xb = x if g.batched else x[None]
    d = g.rank
    if g.kind.startswith("adaptive"):
        fn = getattr(F, f"{g.kind}_pool{d}d")
        out = g.args[0]
        if d == 1:  # the 1-D functions take no None (the size kept); the 2-D and 3-D do
            out = tuple(x.shape[-1] if o is None else o for o in out)
        result = fn(xb, out, return_indices=True) if return_indices else fn(xb, out)
    elif g.kind == "max":
        result = getattr(F, f"max_pool{d}d")(xb, *g.args, **g.options,
                                             return_indices=return_indices)
    elif d == 1 and g.options["divisor_override"] is not None:
        # avg_pool1d has no divisor_override: avg_pool2d over a unit second axis
        kernel, stride, padding = g.args
        result = F.avg_pool2d(xb[..., None], (*kernel, 1), (*stride, 1), (*padding, 0),
                              **g.options)[..., 0]
    else:
        options = {k: v for k, v in g.options.items() if d > 1 or k != "divisor_override"}
        result = getattr(F, f"avg_pool{d}d")(xb, *g.args, **options)
    if return_indices:
        y, indices = result
        return (y, indices) if g.batched else (y[0], indices[0])
    return result if g.batched else result[0]


def disagreement(g: Geometry, forward, vjp, seed: int) -> float:
    """The largest difference of ``forward`` (and ``vjp``) from PyTorch's value and autograd;
    ``inf`` for a wrong shape."""
    x = operand(g, seed)
    xt = torch.tensor(x, requires_grad=True)
    y_ref = torch_pool(g, xt)
    y = forward(x, *g.args, **g.options)
    if y.shape != tuple(y_ref.shape):
        return float("inf")
    worst = float(np.max(np.abs(y - y_ref.detach().numpy()), initial=0.0))
    if vjp is not None:
        grad_y = np.random.default_rng(seed + 1).standard_normal(y.shape)
        (ref,) = torch.autograd.grad(y_ref, xt, torch.tensor(grad_y))
        grad_x = vjp(x, grad_y, *g.args, **g.options)
        assert grad_x.shape == x.shape and grad_x.dtype == x.dtype
        worst = max(worst, float(np.max(np.abs(grad_x - ref.numpy()), initial=0.0)))
    return worst


def indices_disagree(g: Geometry, forward, seed: int) -> bool:
    x = operand(g, seed)
    y, indices = forward(x, *g.args, **g.options, return_indices=True)
    y_ref, ref = torch_pool(g, torch.tensor(x), return_indices=True)
    assert indices.dtype == np.int64
    return indices.shape != tuple(ref.shape) or not np.array_equal(indices, ref.numpy())


# --------------------------------------------------------------------------------------
# the spec against PyTorch
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40)
@given(data=st.data())
def test_pool_option_agrees_with_torch(kind, data):
    g = data.draw(geometries(kind))
    forward, vjp, _ = SPEC[kind]
    assert disagreement(g, forward, vjp, seed=data.draw(st.integers(0, 99))) <= TOLERANCE
    if kind.endswith("max"):
        assert not indices_disagree(g, forward, seed=0)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=15)
@given(data=st.data())
def test_jvp_matches_finite_differences_and_the_vjp_is_its_adjoint(kind, data):
    g = data.draw(geometries(kind))
    forward, vjp, jvp = SPEC[kind]

    def build(s):
        x = s.unique(g.x) if kind.endswith("max") else s.array(g.x)
        return Case((x,), forward=lambda x: forward(x, *g.args, **g.options),
                    jvp=lambda dx: jvp(x, dx, *g.args, **g.options),
                    vjp=lambda grad_y: vjp(x, grad_y, *g.args, **g.options))

    fd = check_jvp(build, trials=1, name=f"{kind} pool options")
    assert fd.passed, fd.detail
    adjoint = check_adjoint(build, "float64", trials=1, name=f"{kind} pool options")
    assert adjoint.passed, adjoint.detail


def test_a_batch_is_its_samples_stacked_and_the_kernel_decides():
    x = operand(Geometry("max", (3, 2, 5, 6), ((2, 2),), {}), 0)
    options = {"dilation": (1, 2), "ceil_mode": True}
    y, indices = max_pool(x, (2, 2), 2, 1, **options, return_indices=True)
    for n in range(3):
        y_n, i_n = max_pool(x[n], (2, 2), 2, 1, **options, return_indices=True)
        np.testing.assert_array_equal(y[n], y_n)
        np.testing.assert_array_equal(indices[n], i_n)
    # an int kernel keeps TorchLean's form: a 3-axis x is one sample with 2 spatial axes
    assert max_pool(x[0], 2).shape == (2, 2, 3)
    assert avg_pool(x, (2, 2), count_include_pad=False).shape == (3, 2, 2, 3)
    assert adaptive_avg_pool(x, (None, 4)).shape == (3, 2, 5, 4)
    assert adaptive_max_pool(x[0], 3).shape == (2, 3, 3)


def test_torchlean_calls_are_unchanged():
    x = operand(Geometry("avg", (2, 6, 6), ((2, 2),), {}), 3)
    np.testing.assert_allclose(avg_pool(x, 2), x.reshape(2, 3, 2, 3, 2).mean(axis=(2, 4)),
                               rtol=1e-15, atol=1e-16)
    np.testing.assert_array_equal(max_pool(x, 2), x.reshape(2, 3, 2, 3, 2).max(axis=(2, 4)))
    with pytest.raises(ShapeError) as err:  # TorchLean's phantom window, as before
        max_pool(np.zeros((1, 2)), 3)
    assert err.value.rule == Rule.LEAN_TORCH_DIVERGENCE


# --------------------------------------------------------------------------------------
# planted defects: the same comparison fails
# --------------------------------------------------------------------------------------
def ceil_window_dropped(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
                        divisor_override=None):
    """ceil_mode read as floor: the last, partial window is dropped."""
    return avg_pool(x, kernel, stride, padding, False, count_include_pad, divisor_override)


def padding_always_counted(x, kernel, stride, padding, ceil_mode=False,
                           count_include_pad=True, divisor_override=None):
    """count_include_pad ignored: the divisor is always the kernel volume."""
    return avg_pool(x, kernel, stride, padding, ceil_mode, True, divisor_override)


def indices_one_row_down(x, kernel, stride, padding, dilation=1, ceil_mode=False,
                         return_indices=False):
    """The indices of the cell one row below the selected one (row length added)."""
    y, indices = max_pool(x, kernel, stride, padding, dilation, ceil_mode, True)
    return y, indices + x.shape[-1]


CEIL = Geometry("avg", (2, 6, 7), ((3, 2), (2, 2), (1, 0)),   # a partial window on each axis
                {"ceil_mode": True, "count_include_pad": True, "divisor_override": None})
NO_PAD_COUNT = Geometry("avg", (2, 2, 5, 6), ((3, 3), (1, 2), (1, 1)),
                        {"ceil_mode": False, "count_include_pad": False,
                         "divisor_override": None})
DILATED = Geometry("max", (2, 7, 9), ((2, 3), (2, 2), (1, 1)),
                   {"dilation": (2, 1), "ceil_mode": True})


@pytest.mark.parametrize("g, wrong", [(CEIL, ceil_window_dropped),
                                      (NO_PAD_COUNT, padding_always_counted)],
                         ids=["ceil_mode_window_dropped", "count_include_pad_ignored"])
def test_planted_defect_is_caught(g, wrong):
    for seed in range(3):
        assert disagreement(g, avg_pool, avg_pool_vjp, seed) <= TOLERANCE
        assert disagreement(g, wrong, None, seed) > 1e-3


def test_planted_indices_off_by_one_row_are_caught():
    for seed in range(3):
        assert not indices_disagree(DILATED, max_pool, seed)
        assert indices_disagree(DILATED, indices_one_row_down, seed)


# --------------------------------------------------------------------------------------
# bad options: a ShapeError naming the rule and the values
# --------------------------------------------------------------------------------------
X1 = np.zeros((2, 6))


@pytest.mark.parametrize("call, rule, shown", [
    (lambda: max_pool(X1, 2, ceil_mode="yes"), Rule.CEIL_MODE, "yes"),
    (lambda: max_pool(X1, 2, return_indices=1), Rule.FLAG, "return_indices"),
    (lambda: avg_pool(X1, 2, count_include_pad=None), Rule.FLAG, "count_include_pad"),
    (lambda: avg_pool(X1, 2, divisor_override=0), Rule.DIVISOR_NONZERO, "0"),
    (lambda: avg_pool(X1, 2, divisor_override=1.5), Rule.INTEGER_SIZE, "1.5"),
    (lambda: avg_pool(X1, 2, divisor_override=10**30), Rule.HUGE_SIZE, "10000"),
    (lambda: max_pool(X1, 2, dilation=0), Rule.DILATION_POSITIVE, "dilation"),
    (lambda: max_pool(X1, 2, 1, 2, ceil_mode=True), Rule.POOL_PADDING, "half"),
    (lambda: max_pool(X1, 3, 1, 0, dilation=3), Rule.OUTPUT_POSITIVE, "dilation 3"),
    (lambda: max_pool(np.zeros((1, 2, 3, 4, 5)), (2, 2)), Rule.AXIS_COUNT, "(1, 2, 3, 4, 5)"),
    (lambda: max_pool_vjp(np.zeros((2, 1, 6)), np.zeros((1, 3)), (2,)), Rule.SHAPE_MATCH,
     "(2, 1, 3)"),
    (lambda: adaptive_avg_pool(X1, -1), Rule.NONNEG_SIZE, "-1"),
    (lambda: adaptive_max_pool(np.zeros((2, 0)), 2), Rule.INPUT_NONEMPTY, "(2, 0)"),
    (lambda: adaptive_avg_pool(X1, (2, 2)), Rule.AXIS_COUNT, "(2, 2)"),
])
def test_bad_option_raises_shape_error_naming_rule_and_values(call, rule, shown):
    with pytest.raises(ShapeError) as err:
        call()
    assert err.value.rule == rule
    assert shown in str(err.value)


# --------------------------------------------------------------------------------------
# the records draw the new options
# --------------------------------------------------------------------------------------
def _draws(name: str, exact: bool, count: int = 300):
    op = get_op(name)
    rng = np.random.default_rng(0)
    return [op.sample(lambda o: list(o)[rng.integers(len(o))], rank, exact)
            for rank in op.ranks for _ in range(count // len(op.ranks))]


def test_the_records_sample_pytorchs_options_and_a_batch():
    seen = {}
    for name in ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"):
        for g in _draws(name, exact=False):
            rank = len(g.static.get("kernel", g.static.get("output_size")))
            seen.setdefault((name, "batch"), set()).add(len(g.shapes["x"]) == rank + 2)
            for option, value in g.static.items():
                seen.setdefault((name, option), set()).add(str(value))
    assert seen[("max_pool", "ceil_mode")] == {"False", "True"}
    assert "(2, 2)" in seen[("max_pool", "dilation")]
    assert seen[("avg_pool", "count_include_pad")] == {"False", "True"}
    assert {"None", "3", "5"} <= seen[("avg_pool", "divisor_override")]
    assert all(seen[(name, "batch")] == {False, True} for name in
               ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"))
    assert any(int(o) > 7 for s in seen[("adaptive_avg_pool", "output_size")]
               for o in s.strip("()").split(",") if o.strip())


def _dyadic(values) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.all(np.log2(values) == np.round(np.log2(values))))


def test_exact_mode_draws_only_dyadic_divisors():
    """The adjoint identity is exact on integers only where every divisor is a power of 2:
    the exact-mode samples of the averages have such divisors alone."""
    for g in _draws("avg_pool", exact=True, count=150):
        ones = np.ones(g.shapes["x"])
        summed = avg_pool(ones, **{**g.static, "divisor_override": 1})  # counted cells
        assert _dyadic(summed / avg_pool(ones, **g.static)), g
    for g in _draws("adaptive_avg_pool", exact=True, count=150):
        for n, out in zip(g.shapes["x"][-len(g.static["output_size"]):],
                          g.static["output_size"], strict=True):
            o = np.arange(out)
            assert _dyadic(-((-(o + 1) * n) // out) - (o * n) // out), (n, out)
