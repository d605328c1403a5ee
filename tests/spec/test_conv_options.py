"""PyTorch's conv options in the spec, against ``torch.nn.functional``.

For each option (dilation, groups, per-side, ``"same"`` and ``"valid"`` padding, the padding
modes, output_padding, a batch axis), Hypothesis draws a geometry shape first (rank, kernel,
stride, dilation, padding, groups, then sizes the torch formula accepts) and then operands:

* float64: the spec forward and VJP equal ``F.conv{1,2,3}d`` / ``F.conv_transpose{1,2,3}d``
  and autograd to 1e-12;
* float32: within the rounding bound ``gamma_n * f(|x|, |w|, |b|)`` of float64 (derived below);
* the JVP agrees with central differences, and the adjoint identity is exact on integers;
* planted defects (dilation on the input, groups mixing channels, output_padding on the wrong
  side) make the same comparison fail;
* bad options raise a ShapeError naming the rule and the values, where PyTorch raises too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec import convolution
from nnbridge.spec.convolution import (
    PADDING_MODES,
    conv,
    conv_jvp,
    conv_transpose,
    conv_transpose_jvp,
    conv_transpose_vjp,
    conv_vjp,
)
from nnbridge.spec.domains import conv_transpose_agreement
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.formulas import conv_out, conv_transpose_out

from nnbridge.adjoint import Case, check_adjoint, check_jvp

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

CONV_OPTIONS = ("dilation", "groups", "per_side", "same", "valid", "reflect", "replicate",
                "circular", "batch")
CONV_T_OPTIONS = ("dilation", "groups", "output_padding", "batch")
FLOAT64_TOLERANCE = 1e-12


# --------------------------------------------------------------------------------------
# geometries, shape first
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    transpose: bool
    x: tuple[int, ...]
    w: tuple[int, ...]
    b: tuple[int, ...]
    options: dict

    @property
    def rank(self) -> int:
        return len(self.w) - 2


def _fits(formula, *args) -> bool:
    try:
        formula(*args, semantics="torch")
    except ShapeError:
        return False
    return True


def _size(draw, fits) -> int:
    inside = [n for n in range(1, 9) if fits(n)]
    return draw(st.sampled_from(inside))


@st.composite
def conv_geometries(draw, option: str) -> Geometry:
    """A conv geometry with ``option`` in use (the others drawn too, at random)."""
    rank = draw(st.integers(1, 3))

    def per_axis(lo, hi):
        return tuple(draw(st.integers(lo, hi)) for _ in range(rank))

    kernel = per_axis(1, 3)
    dilation = per_axis(2, 3) if option == "dilation" else per_axis(1, 2)
    groups = draw(st.integers(2, 3)) if option == "groups" else draw(st.integers(1, 2))
    mode = option if option in PADDING_MODES else "zeros"
    form = {"same": "same", "valid": "valid", "per_side": "pairs"}.get(option) or draw(
        st.sampled_from(["ints", "pairs", "same"] if mode != "zeros" else ["ints"]))
    stride = (1,) * rank if form == "same" else per_axis(1, 2)
    if form == "same":
        padding = "same"
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        pairs = [(t // 2, t - t // 2) for t in totals]
    elif form == "valid":
        padding, pairs = "valid", [(0, 0)] * rank
    elif form == "pairs":
        pairs = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank)]
        padding = tuple(pairs)
    else:
        padding = per_axis(0, 2)
        pairs = [(p, p) for p in padding]

    def fits(axis):
        (lo, hi), k, s, d = pairs[axis], kernel[axis], stride[axis], dilation[axis]
        limit = {"reflect": lambda n: max(lo, hi) < n, "circular": lambda n: max(lo, hi) <= n}
        return lambda n: (_fits(conv_out, n + lo + hi, k, s, 0, d)
                          and limit.get(mode, lambda n: True)(n))

    size = tuple(_size(draw, fits(axis)) for axis in range(rank))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    lead = (draw(st.integers(1, 3)),) if option == "batch" else draw(st.sampled_from([(), (2,)]))
    return Geometry(False, (*lead, c_in, *size), (c_out, c_in // groups, *kernel), (c_out,),
                    {"stride": stride, "padding": padding, "dilation": dilation,
                     "groups": groups, "padding_mode": mode})


@st.composite
def conv_transpose_geometries(draw, option: str) -> Geometry:
    """A transposed-conv geometry with ``option`` in use; output_padding < max(s, d)."""
    rank = draw(st.integers(1, 3))

    def per_axis(lo, hi):
        return tuple(draw(st.integers(lo, hi)) for _ in range(rank))

    kernel = per_axis(1, 3)
    stride = per_axis(1, 3)
    dilation = per_axis(2, 3) if option == "dilation" else per_axis(1, 2)
    padding = per_axis(0, 2)
    groups = draw(st.integers(2, 3)) if option == "groups" else draw(st.integers(1, 2))
    output_padding = tuple(draw(st.integers(1 if option == "output_padding" else 0,
                                            max(s, d) - 1)) if max(s, d) > 1 else 0
                           for s, d in zip(stride, dilation, strict=True))
    if option == "output_padding" and not any(output_padding):
        stride = (2,) + stride[1:]
        output_padding = (1,) + output_padding[1:]

    # TorchLean's arguments alone keep TorchLean's sizes: inside the proved agreement domain
    torchlean = groups == 1 and set(dilation) == {1} and not any(output_padding)

    def fits(axis):
        args = (kernel[axis], stride[axis], padding[axis], output_padding[axis], dilation[axis])
        return lambda n: _fits(conv_transpose_out, n, *args) and (
            not torchlean or conv_transpose_agreement(n, *args[:3]))

    size = tuple(_size(draw, fits(axis)) for axis in range(rank))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    lead = (draw(st.integers(1, 3)),) if option == "batch" else draw(st.sampled_from([(), (2,)]))
    return Geometry(True, (*lead, c_in, *size), (c_in, c_out // groups, *kernel), (c_out,),
                    {"stride": stride, "padding": padding, "output_padding": output_padding,
                     "groups": groups, "dilation": dilation})


def operands(g: Geometry, seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in (g.x, g.w, g.b))


# --------------------------------------------------------------------------------------
# PyTorch's values
# --------------------------------------------------------------------------------------
def torch_conv(x, w, b, stride, padding, dilation, groups, padding_mode):
    """``F.convNd``; a padding mode through ``nn.ConvNd``'s own forward; per-side pairs (no
    PyTorch form) through ``F.pad`` first."""
    rank = w.dim() - 2
    batched = x.dim() == w.dim()
    xb = x if batched else x[None]
    fn = getattr(F, f"conv{rank}d")
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        flat = [v for pair in reversed(padding) for v in pair]
        xb = F.pad(xb, flat, mode="constant" if padding_mode == "zeros" else padding_mode)
        y = fn(xb, w, b, stride, 0, dilation, groups)
    elif padding_mode != "zeros":
        layer = getattr(torch.nn, f"Conv{rank}d")(
            xb.shape[1], w.shape[0], tuple(w.shape[2:]), stride, padding, dilation, groups,
            padding_mode=padding_mode, device="meta")
        y = layer._conv_forward(xb, w, b)
    else:
        y = fn(xb, w, b, stride, padding, dilation, groups)
    return y if batched else y[0]


def torch_conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation):
    batched = x.dim() == w.dim()
    fn = getattr(F, f"conv_transpose{w.dim() - 2}d")
    y = fn(x if batched else x[None], w, b, stride, padding, output_padding, groups, dilation)
    return y if batched else y[0]


def spec_of(g: Geometry):
    return (conv_transpose, conv_transpose_vjp) if g.transpose else (conv, conv_vjp)


def disagreement(g: Geometry, forward, vjp, seed: int) -> float:
    """``max |spec - torch| / max(1, |torch|)`` over the output and every gradient (float64);
    ``inf`` when a shape differs. ``vjp=None`` compares the forward alone."""
    x, w, b = operands(g, seed)
    reference = torch_conv_transpose if g.transpose else torch_conv
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y_ref = reference(*tensors, **g.options)
    y = forward(x, w, b, **g.options)
    if y.shape != tuple(y_ref.shape):
        return math.inf
    pairs = [(y, y_ref.detach().numpy())]
    if vjp is not None:
        grad_y = np.random.default_rng(seed + 1).standard_normal(y.shape)
        refs = torch.autograd.grad(y_ref, [tensors[1], tensors[2], tensors[0]],
                                   torch.tensor(grad_y))
        pairs += list(zip(vjp(x, w, b, grad_y, **g.options), (r.numpy() for r in refs),
                          strict=True))
    worst = 0.0
    for got, ref in pairs:
        if got.shape != ref.shape:
            return math.inf
        scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
        worst = max(worst, float(np.abs(got - ref).max()) / scale if ref.size else 0.0)
    return worst


# --------------------------------------------------------------------------------------
# float64 against PyTorch, every option
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", CONV_OPTIONS)
@settings(max_examples=30)
@given(data=st.data())
def test_conv_option_agrees_with_torch(option, data):
    g = data.draw(conv_geometries(option))
    seed = data.draw(st.integers(0, 2**16))
    assert disagreement(g, conv, conv_vjp, seed) <= FLOAT64_TOLERANCE


@settings(max_examples=20)
@given(data=st.data())
def test_gathered_cells_agree_with_torch(data):
    """:func:`convolution.correlate`'s other way, taken from 16 outputs per group on: every
    output channel count here is below that, so it is lowered to 1 for this test."""
    g = data.draw(conv_geometries(data.draw(st.sampled_from(CONV_OPTIONS))))
    seed = data.draw(st.integers(0, 2**16))
    saved = convolution.GATHER_OUTPUTS
    convolution.GATHER_OUTPUTS = 1
    try:
        assert disagreement(g, conv, conv_vjp, seed) <= FLOAT64_TOLERANCE
    finally:
        convolution.GATHER_OUTPUTS = saved


@pytest.mark.parametrize("option", CONV_T_OPTIONS)
@settings(max_examples=30)
@given(data=st.data())
def test_conv_transpose_option_agrees_with_torch(option, data):
    g = data.draw(conv_transpose_geometries(option))
    seed = data.draw(st.integers(0, 2**16))
    assert disagreement(g, conv_transpose, conv_transpose_vjp, seed) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize("gather_from", [1, 10**9], ids=["gathered", "per_offset"])
def test_long_rows_taken_in_spans_agree_with_torch(monkeypatch, gather_from):
    """The wide grid's column runs (:data:`convolution.SPAN`): many short runs give the same
    values as one, with the cells gathered first or read in place per offset."""
    monkeypatch.setattr(convolution, "SPAN", 7)
    monkeypatch.setattr(convolution, "SPAN_COLUMNS", 1)
    monkeypatch.setattr(convolution, "GATHER_OUTPUTS", gather_from)
    for g in (Geometry(False, (2, 3, 9, 8), (4, 3, 3, 2), (4,),
                       {"stride": 1, "padding": ((1, 2), (0, 1)), "dilation": (2, 1),
                        "groups": 1, "padding_mode": "circular"}),
              Geometry(True, (4, 5, 6), (4, 1, 2, 3), (2,),
                       {"stride": 1, "padding": 1, "output_padding": 0, "groups": 2,
                        "dilation": 2})):
        forward, vjp = spec_of(g)
        assert disagreement(g, forward, vjp, seed=3) <= FLOAT64_TOLERANCE


def test_a_batch_is_its_samples_stacked_and_the_rank_decides():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 6, 5)), rng.standard_normal((4, 1, 3, 3)), np.zeros(4)
    options = {"padding": "same", "dilation": 2, "groups": 2, "padding_mode": "reflect"}
    batched = conv(x, w, b, **options)
    np.testing.assert_allclose(batched, np.stack([conv(s, w, b, **options) for s in x]),
                               rtol=0, atol=1e-13)
    grads = conv_vjp(x, w, b, np.ones_like(batched), **options)
    singles = [conv_vjp(s, w, b, np.ones_like(batched[0]), **options) for s in x]
    np.testing.assert_allclose(grads[0], sum(s[0] for s in singles), atol=1e-12)
    np.testing.assert_allclose(grads[2], np.stack([s[2] for s in singles]), atol=1e-13)
    # the kernel's rank fixes the spatial rank: x with 2 more axes than that is refused
    with pytest.raises(ShapeError, match=r"\(N, C, \*S\)") as err:
        conv(x[None], w, b)
    assert err.value.rule == Rule.RANK


def test_bias_none_is_no_bias():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 5)), rng.standard_normal((2, 3, 2))
    y = conv_transpose(x, w, None, stride=2, output_padding=1)
    np.testing.assert_array_equal(y, conv_transpose(x, w, np.zeros(3), stride=2,
                                                    output_padding=1))
    assert conv_transpose_vjp(x, w, None, np.ones_like(y), stride=2, output_padding=1)[1] is None


def test_torch_options_switch_to_torch_sizes_and_errors():
    """TorchLean's arguments keep the divergence rule; a PyTorch option gives PyTorch's."""
    x, w, b = np.zeros((1, 2)), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError) as lean:
        conv(x, w, b)
    with pytest.raises(ShapeError) as torch_rule:
        conv(x, w, b, padding="valid")
    assert (lean.value.rule, torch_rule.value.rule) == (Rule.LEAN_TORCH_DIVERGENCE,
                                                        Rule.KERNEL_FITS)


# --------------------------------------------------------------------------------------
# float32: within the derived rounding bound
# --------------------------------------------------------------------------------------
def gamma(n: int) -> float:
    """``gamma_n = n u / (1 - n u)``, ``u = 2**-24``: a sum of ``n`` rounded products, in any
    order, is off by at most ``gamma_n`` times the sum of their magnitudes (Higham, 3.1)."""
    u = 2.0**-24
    return n * u / (1 - n * u)


def float32_bounds(g: Geometry, x, w, b, grad_y):
    """Elementwise bounds on ``|fl32 - exact|`` for the output and the gradients.

    Every output, and every gradient entry, is a sum of products of operands (a padding mode
    copies cells, never rounds). Run in float64 on the magnitudes, the same map gives the sum
    of the magnitudes of those products, and ``n`` counts the terms: ``Cg * prod(K) + 1`` per
    output; per gradient entry at most ``Og * prod(K) * 3**D`` (an input cell is read by up to
    three padded copies per axis) or ``N * prod(out)``, plus one.
    """
    forward, vjp = spec_of(g)
    a = [np.abs(v) for v in (x, w, b)]
    groups = g.options["groups"]
    cg = g.x[-g.rank - 1] // groups
    og = g.b[0] // groups
    taps = math.prod(g.w[2:])
    y_bound = gamma(cg * taps + 1) * forward(*a, **g.options)
    cells = math.prod(grad_y.shape) // g.b[0]
    n = max(max(cg, og) * taps * 3**g.rank, cells) + 1
    grad_bounds = tuple(gamma(n) * v for v in vjp(*a, np.abs(grad_y), **g.options))
    return y_bound, grad_bounds


FLOAT32_CASES = [(False, option) for option in CONV_OPTIONS if option != "replicate"] + [
    (True, option) for option in CONV_T_OPTIONS]


@pytest.mark.parametrize("transpose, option", FLOAT32_CASES,
                         ids=[("conv_transpose." if t else "conv.") + o for t, o in FLOAT32_CASES])
@settings(max_examples=10)
@given(data=st.data())
def test_float32_within_the_rounding_bound(transpose, option, data):
    g = data.draw((conv_transpose_geometries if transpose else conv_geometries)(option))
    forward, vjp = spec_of(g)
    x32, w32, b32 = operands(g, data.draw(st.integers(0, 2**16)), np.float32)
    x, w, b = (v.astype(np.float64) for v in (x32, w32, b32))
    y64 = forward(x, w, b, **g.options)
    grad_y32 = np.random.default_rng(7).standard_normal(y64.shape).astype(np.float32)
    grad_y = grad_y32.astype(np.float64)
    y_bound, grad_bounds = float32_bounds(g, x, w, b, grad_y)
    y32 = forward(x32, w32, b32, **g.options)
    assert y32.dtype == np.float32
    assert np.all(np.abs(y32 - y64) <= y_bound)
    for got, exact, bound in zip(vjp(x32, w32, b32, grad_y32, **g.options),
                                 vjp(x, w, b, grad_y, **g.options), grad_bounds, strict=True):
        assert got.dtype == np.float32 and np.all(np.abs(got - exact) <= bound)
    # PyTorch's float32 conv lies within the same bound: the bound is not loose by accident
    reference = torch_conv_transpose if g.transpose else torch_conv
    y_torch = reference(*(torch.from_numpy(v) for v in (x32, w32, b32)), **g.options).numpy()
    assert np.all(np.abs(y_torch - y64) <= y_bound)


# --------------------------------------------------------------------------------------
# JVP against finite differences, adjoint identity exact on integers
# --------------------------------------------------------------------------------------
def builder(g: Geometry):
    forward, vjp = spec_of(g)
    jvp = conv_transpose_jvp if g.transpose else conv_jvp

    def build(s):
        x, w, b = s.array(g.x), s.array(g.w), s.array(g.b)
        return Case((w, b, x), forward=lambda w, b, x: forward(x, w, b, **g.options),
                    jvp=lambda dw, db, dx: jvp(x, w, b, dx, dw, db, **g.options),
                    vjp=lambda grad_y: vjp(x, w, b, grad_y, **g.options))

    return build


@settings(max_examples=40)
@given(data=st.data())
def test_jvp_matches_finite_differences_and_the_adjoint_is_exact(data):
    transpose = data.draw(st.booleans())
    options = CONV_T_OPTIONS if transpose else CONV_OPTIONS
    option = data.draw(st.sampled_from(options))
    g = data.draw((conv_transpose_geometries if transpose else conv_geometries)(option))
    fd = check_jvp(builder(g), trials=1, name="conv options")
    assert fd.passed, fd.detail
    exact = check_adjoint(builder(g), "exact", trials=1, name="conv options")
    assert exact.passed and exact.worst_residual == 0.0, exact.detail


# --------------------------------------------------------------------------------------
# planted defects: the same comparison fails
# --------------------------------------------------------------------------------------
def conv_input_dilated(x, w, b, stride, padding, dilation, groups, padding_mode):
    """Dilation applied to the input (XLA's ``lhs_dilation``: d - 1 zeros between input
    cells) instead of the kernel (``rhs_dilation``)."""
    d = x.ndim - 1
    dilation = (dilation,) * d if isinstance(dilation, int) else dilation
    spread = np.zeros((x.shape[0], *((n - 1) * di + 1 for n, di in zip(x.shape[1:], dilation,
                                                                       strict=True))))
    spread[(slice(None),) + tuple(slice(None, None, di) for di in dilation)] = x
    return conv(spread, w, b, stride, padding, 1, groups, padding_mode=padding_mode)


def conv_groups_interleaved(x, w, b, stride, padding, dilation, groups, padding_mode):
    """Groups formed from channels ``c mod groups`` instead of consecutive blocks: each
    group's kernel meets channels of the other groups."""
    order = np.concatenate([np.arange(g, x.shape[0], groups) for g in range(groups)])
    return conv(x[order], w, b, stride, padding, dilation, groups, padding_mode=padding_mode)


def conv_transpose_padding_first(x, w, b, stride, padding, output_padding, groups, dilation,
                                 *, wrong: bool = True):
    """``output_padding`` cells added before the first output cell instead of after the last
    (``wrong=False``: after, the right side, built the same way)."""
    full = conv_transpose(x, w, np.zeros_like(b), stride, 0, 0, groups, dilation)
    grid = np.pad(full, [(0, 0)] + [(op, op) for op in output_padding])
    out = conv_transpose_out(x.shape[1:], w.shape[2:], stride, padding, output_padding,
                             dilation, semantics="torch")
    start = [p if wrong else p + op for p, op in zip(padding, output_padding, strict=True)]
    kept = tuple(slice(s, s + o) for s, o in zip(start, out, strict=True))
    return grid[(slice(None),) + kept] + b.reshape((-1,) + (1,) * len(out))


DILATED = Geometry(False, (2, 9, 8), (2, 2, 3, 2), (2,),
                   {"stride": 1, "padding": 1, "dilation": (2, 3), "groups": 1,
                    "padding_mode": "zeros"})
GROUPED = Geometry(False, (4, 6, 5), (6, 2, 3, 3), (6,),
                   {"stride": (1, 2), "padding": "valid", "dilation": 1, "groups": 2,
                    "padding_mode": "replicate"})
PADDED_OUT = Geometry(True, (2, 4, 5), (2, 3, 3, 2), (3,),
                      {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2),
                       "groups": 1, "dilation": 1})


@pytest.mark.parametrize("g, wrong", [
    (DILATED, conv_input_dilated),
    (GROUPED, conv_groups_interleaved),
    (PADDED_OUT, conv_transpose_padding_first),
], ids=["dilation_on_the_input", "groups_mixing_channels", "output_padding_first"])
def test_planted_defect_is_caught(g, wrong):
    forward, vjp = spec_of(g)
    for seed in range(3):
        assert disagreement(g, forward, vjp, seed) <= FLOAT64_TOLERANCE
        assert disagreement(g, wrong, None, seed) > 1e-3


def test_the_output_padding_construction_is_right_on_the_right_side():
    """The planted variant differs from the right one by the side alone."""
    def right(*args, **kwargs):
        return conv_transpose_padding_first(*args, **kwargs, wrong=False)

    assert disagreement(PADDED_OUT, right, None, seed=0) <= FLOAT64_TOLERANCE


# --------------------------------------------------------------------------------------
# bad options: ShapeError with the rule and the values, where PyTorch raises too
# --------------------------------------------------------------------------------------
X1, W1, B1 = np.zeros((3, 5)), np.zeros((4, 1, 3)), np.zeros(4)
BAD = [
    ("groups not dividing the input channels", lambda: conv(X1, W1, B1, groups=2),
     lambda: F.conv1d(torch.zeros(1, 3, 5), torch.zeros(4, 1, 3), groups=2),
     Rule.CHANNELS, ["groups=2", "3"]),
    ("groups not dividing the output channels",
     lambda: conv(np.zeros((2, 5)), np.zeros((3, 1, 3)), np.zeros(3), groups=2),
     lambda: F.conv1d(torch.zeros(1, 2, 5), torch.zeros(3, 1, 3), groups=2),
     Rule.CHANNELS, ["groups=2", "3 output channels"]),
    ("groups 0", lambda: conv(X1, W1, B1, groups=0),
     lambda: F.conv1d(torch.zeros(1, 3, 5), torch.zeros(4, 1, 3), groups=0),
     Rule.POSITIVE_SIZE, ["groups=0"]),
    ("transposed groups not dividing",
     lambda: conv_transpose(np.zeros((3, 5)), np.zeros((3, 1, 3)), np.zeros(2), groups=2),
     lambda: F.conv_transpose1d(torch.zeros(1, 3, 5), torch.zeros(3, 1, 3), groups=2),
     Rule.CHANNELS, ["groups=2"]),
    ("dilation 0", lambda: conv(np.zeros((1, 5)), W1, B1, dilation=0),
     lambda: F.conv1d(torch.zeros(1, 1, 5), torch.zeros(4, 1, 3), dilation=0),
     Rule.DILATION_POSITIVE, ["dilation=(0,)"]),
    ("output_padding not below stride or dilation",
     lambda: conv_transpose(np.zeros((1, 4)), np.zeros((1, 1, 3)), np.zeros(1), stride=2,
                            output_padding=2, dilation=2),
     lambda: F.conv_transpose1d(torch.zeros(1, 1, 4), torch.zeros(1, 1, 3), stride=2,
                                output_padding=2, dilation=2),
     Rule.OUTPUT_PADDING_SMALL, ["output_padding=2", "stride=2", "dilation=2"]),
    ("unknown padding_mode",
     lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), padding=1,
                  padding_mode="mirror"),
     lambda: torch.nn.Conv1d(1, 1, 3, padding=1, padding_mode="mirror"),
     Rule.PADDING_MODE, ["'mirror'"]),
    ("same with stride 2",
     lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), stride=2,
                  padding="same"),
     lambda: F.conv1d(torch.zeros(1, 1, 5), torch.zeros(1, 1, 3), stride=2, padding="same"),
     Rule.PADDING_SAME, ["stride=(2,)"]),
    ("unknown padding string",
     lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), padding="full"),
     lambda: F.conv1d(torch.zeros(1, 1, 5), torch.zeros(1, 1, 3), padding="full"),
     Rule.INTEGER_SIZE, ["'full'"]),
    ("reflect padding as large as the input",
     lambda: conv(np.zeros((1, 3, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1), padding=3,
                  padding_mode="reflect"),
     lambda: torch.nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(
         torch.zeros(1, 1, 3, 4)),
     Rule.PADDING_WRAP, ["'reflect'", "(3, 4)"]),
    ("circular padding wrapping twice",
     lambda: conv(np.zeros((1, 2)), np.zeros((1, 1, 3)), np.zeros(1), padding=3,
                  padding_mode="circular"),
     lambda: torch.nn.Conv1d(1, 1, 3, padding=3, padding_mode="circular")(torch.zeros(1, 1, 2)),
     Rule.PADDING_WRAP, ["'circular'", "(2,)"]),
    ("a per-side pair of three",
     lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), padding=((1, 2, 3),)),
     None, Rule.AXIS_COUNT, ["(1, 2, 3)"]),
    ("a string padding for a transposed conv",
     lambda: conv_transpose(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1),
                            padding="same"),
     lambda: F.conv_transpose1d(torch.zeros(1, 1, 5), torch.zeros(1, 1, 3), padding="same"),
     Rule.INTEGER_SIZE, ["'same'"]),
]


@pytest.mark.parametrize("what, call, torch_call, rule, named", BAD, ids=[b[0] for b in BAD])
def test_bad_option_raises_shape_error_naming_rule_and_values(what, call, torch_call, rule,
                                                              named):
    with pytest.raises(ShapeError) as err:
        call()
    assert err.value.rule == rule, str(err.value)
    for value in named:
        assert value in str(err.value), (value, str(err.value))
    if torch_call is not None:
        with pytest.raises((RuntimeError, ValueError, TypeError)):
            torch_call()
