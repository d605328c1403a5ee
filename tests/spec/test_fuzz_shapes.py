"""Fuzz every public function of nnbridge.spec.shapes with bad and odd values.

The rule for every call: a correct result, or a :class:`ShapeError` that names a
:class:`Rule` and the offending values -- never another exception (``TypeError``, a
``ValueError`` from Python's int-to-str limit, ``RecursionError``, ``OverflowError``), never a
hang, never a result for input that is not a size.

Values are drawn shape first: a rank (scalars, or per-axis tuples of one length), then per
argument either a size of that shape or a defect: Python ints with thousands of digits,
negatives, ``bool``, floats, NumPy integers (accepted as ints) and bools, strings, ``None``,
tuples of another length, empty and nested tuples; then the semantics and the pooling op.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from nnbridge.spec import chains, formulas, shapes
from nnbridge.spec.arith import shown
from nnbridge.spec.errors import Rule
from nnbridge.spec.shapes import (
    SEMANTICS,
    CNN2Config,
    ResNetConfig,
    ShapeError,
    UNet2Config,
    conv_out,
    conv_transpose_out,
    pool_out,
)

MAX_SIZE = 2**48
# examples per test (the CI profile keeps them deterministic): 3 layer formulas x 300,
# 3 configs x 200, 16 chain functions x 120 = 3420 in all
LAYER_EXAMPLES, CONFIG_EXAMPLES, CHAIN_EXAMPLES = 300, 200, 120

#: Rules that refuse the arguments themselves (not a PyTorch precondition on valid sizes).
INPUT_RULES = {Rule.SEMANTICS, Rule.POOL_OP, Rule.CEIL_MODE, Rule.AXIS_COUNT,
               Rule.INTEGER_SIZE, Rule.NONNEG_SIZE, Rule.HUGE_SIZE, Rule.CONFIG_FIELD,
               Rule.CONFIG_TYPE}
#: PyTorch's preconditions, raised on valid sizes under semantics="torch".
TORCH_RULES = {Rule.KERNEL_POSITIVE, Rule.STRIDE_POSITIVE, Rule.DILATION_POSITIVE,
               Rule.PADDING_NONNEG, Rule.INPUT_NONEMPTY, Rule.KERNEL_FITS,
               Rule.AVG3D_KERNEL_FITS, Rule.POOL_PADDING, Rule.OUTPUT_POSITIVE,
               Rule.OUTPUT_PADDING_NONNEG, Rule.OUTPUT_PADDING_SMALL}

# ---------------------------------------------------------------------------------------
# Strategies, shape first
# ---------------------------------------------------------------------------------------
NUMPY_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64)

def sizes(lo: int = 0, hi: int = 40):
    """A valid size, as a Python int or (about half the time) as a NumPy integer."""
    return st.builds(lambda kind, v: kind(v), st.sampled_from([int] * 8 + list(NUMPY_INTS)),
                     st.integers(lo, hi))


numpy_extremes = st.sampled_from(NUMPY_INTS).flatmap(
    lambda dtype: st.sampled_from([np.iinfo(dtype).min, np.iinfo(dtype).max]).map(dtype))
edge_ints = st.sampled_from([-1, -2, -(2**63), MAX_SIZE, MAX_SIZE + 1, 2**63, 2**64, 2**200])
#: +-10**d with up to 20000 digits: far past Python's 4300-digit int-to-str limit
huge_ints = st.builds(lambda digits, sign: sign * 10**digits, st.integers(20, 20_000),
                      st.sampled_from([1, -1]))
junk = st.one_of(
    st.booleans(), st.just(np.True_), st.just(np.False_),
    st.floats(allow_nan=True, allow_infinity=True), st.just(np.float64(3.0)),
    st.text(max_size=6), st.just("3"), st.none(), st.just(b"3"), st.just(3 + 0j),
    st.just(np.array(3)), st.just(np.array([3, 3])), st.just(object()), st.just({"n": 3}),
    st.just(range(3)),
)
bad_scalars = st.one_of(numpy_extremes, edge_ints, huge_ints, junk)
BAD_SEMANTICS = ["jax", "", "Lean", "torch ", None, 0, 10**5000, b"lean", ("lean",),
                 ["torch"], np.str_("lean")]
BAD_OPS = ["min", "", "MAX", None, 0, 10**5000, ("max",), np.str_("avg")]
BAD_CEIL_MODES = [0, 1, None, "True", 10**5000, (True,), np.int64(1)]

#: the valid range of each layer argument, by position: n, kernel, stride, padding, then
#: Lean's options (dilation; output_padding and dilation), mostly at their defaults
LAYER_RANGES = {
    "conv_out": [(0, 40), (0, 7), (0, 4), (0, 4), (0, 2)],
    "pool_out": [(0, 40), (0, 7), (0, 4), (0, 4), (0, 2)],
    "conv_transpose_out": [(0, 40), (0, 7), (0, 4), (0, 4), (0, 2), (0, 2)],
}
LAYER_DEFAULTS = {"conv_out": (1,), "pool_out": (1,), "conv_transpose_out": (0, 1)}


def layer_arg(rank: int | None, lo: int, hi: int, default: int | None):
    """One valid argument: a size, or (for a rank) a tuple or list of ``rank`` sizes."""
    one = sizes(lo, hi) if default is None else st.one_of(
        st.just(default), st.just(default), sizes(lo, hi))
    if rank is None:
        return one
    return st.one_of(one, st.lists(one, min_size=rank, max_size=rank).map(tuple),
                     st.lists(one, min_size=rank, max_size=rank))


@st.composite
def spoiled(draw, value):
    """``value`` with one defect: a bad scalar, a bad entry, a bad length, (), or nesting."""
    how = draw(st.sampled_from(["scalar", "entry", "length", "empty", "nested"]))
    if how == "entry" and isinstance(value, (tuple, list)) and len(value) > 0:
        entries = list(value)
        entries[draw(st.integers(0, len(entries) - 1))] = draw(bad_scalars)
        return type(value)(entries)
    if how == "length":
        return tuple(draw(st.lists(sizes(), min_size=1, max_size=4)))
    if how == "empty":
        return draw(st.sampled_from([(), []]))
    if how == "nested":
        return (draw(sizes()), (draw(sizes()),))
    return draw(bad_scalars)


@st.composite
def layer_calls(draw, name: str):
    """Shape first: a rank (scalars, or per-axis tuples of one length), then each argument
    of that shape in its range, the semantics, pooling op and ceil_mode; then up to two of
    them spoiled."""
    rank = draw(st.sampled_from([None, None, 1, 2, 3]))
    ranges = LAYER_RANGES[name]
    defaults = (None,) * (len(ranges) - len(LAYER_DEFAULTS[name])) + LAYER_DEFAULTS[name]
    args = [draw(layer_arg(rank, lo, hi, d))
            for (lo, hi), d in zip(ranges, defaults, strict=True)]
    semantics = draw(st.sampled_from(["lean", "torch"]))
    op = draw(st.sampled_from(["max", "avg"]))
    ceil_mode = draw(st.sampled_from([False, False, True, np.False_, np.True_]))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        what = draw(st.sampled_from(["arg"] * 4 + ["semantics", "op", "ceil_mode"]))
        if what == "semantics":
            semantics = draw(st.sampled_from(BAD_SEMANTICS))
        elif what == "op":
            op = draw(st.sampled_from(BAD_OPS))
        elif what == "ceil_mode":
            ceil_mode = draw(st.sampled_from(BAD_CEIL_MODES))
        else:
            i = draw(st.integers(0, len(args) - 1))
            args[i] = draw(spoiled(args[i]))
    return args, semantics, op, ceil_mode


# ---------------------------------------------------------------------------------------
# What counts as valid, and the checks every call must pass
# ---------------------------------------------------------------------------------------
def is_size(v) -> bool:
    return (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
            and 0 <= int(v) <= MAX_SIZE)


def valid_layer_args(args) -> bool:
    lengths = {len(a) for a in args if isinstance(a, (tuple, list))}
    if len(lengths) > 1 or 0 in lengths:
        return False
    return all(all(is_size(v) for v in a) if isinstance(a, (tuple, list)) else is_size(a)
               for a in args)


def renderings(values) -> set[str]:
    """The ways a message may show the given values (and their entries)."""
    out = set()
    for v in values:
        out.add(shown(v))
        if isinstance(v, (tuple, list)):
            out.add(shown(tuple(v)))
            out |= renderings(v)
        elif isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            out.add(shown(int(v)))
    return out


def outcome(call):
    """``("ok", value)`` or ``("error", ShapeError)``; any other exception fails the test."""
    try:
        value = call()
    except ShapeError as exc:
        assert isinstance(exc.rule, Rule), exc
        message = str(exc)
        assert 0 < len(message) < 2000, message[:200]
        assert exc.one_line().startswith(f"[{exc.rule.value}]")
        _event(f"error {exc.rule.value}")
        return "error", exc
    _event("result")
    return "ok", value


def _event(label: str) -> None:
    if currently_in_test_context():  # the fuzz tests count outcomes; the fixed cases not
        event(label)


def assert_plain_ints(value):
    """A result is made of Python ints (never NumPy's fixed-width ones) and bools."""
    if isinstance(value, dict):
        for v in value.values():
            assert_plain_ints(v)
    elif isinstance(value, tuple):
        for v in value:
            assert_plain_ints(v)
    else:
        assert type(value) in (int, bool), (shown(value), type(value))
        if type(value) is int:
            assert value >= 0


def plain(v):
    if isinstance(v, (tuple, list)):
        return tuple(plain(x) for x in v)
    return int(v)


def _intermediate_too_large(exc: ShapeError) -> bool:
    """Every size a chain computes is held to 2**48 too: an input near the limit plus padding
    is refused by ``huge_size``, naming the intermediate size (not an input)."""
    return exc.rule == Rule.HUGE_SIZE and "exceeds the largest supported size" in str(exc)


def check_error_names_values(exc: ShapeError, values):
    if _intermediate_too_large(exc):
        return
    if exc.rule in INPUT_RULES and exc.rule not in (Rule.CONFIG_TYPE,):
        message = str(exc)
        assert any(r in message for r in renderings(values)), (message, shown(values))


# Independent Lean references, per axis (Nat arithmetic written out by hand).
def _nat_sub(a, b):
    return max(a - b, 0)


def _lean_conv(n, k, s, p):
    return (_nat_sub(n + 2 * p, k) // s if s else 0) + 1


def _lean_conv_transpose(n, k, s, p):
    return _nat_sub(_nat_sub(n, 1) * s, 2 * p) + k


def _all_equal(arg, default) -> bool:
    arg = plain(arg)
    return all(v == default for v in arg) if isinstance(arg, tuple) else arg == default


def _per_axis_reference(fn, args):
    args = [plain(a) for a in args]
    ranks = {len(a) for a in args if isinstance(a, tuple)}
    if not ranks:
        return fn(*args)
    (rank,) = ranks
    columns = [a if isinstance(a, tuple) else (a,) * rank for a in args]
    return tuple(fn(*values) for values in zip(*columns, strict=True))


LAYERS = {
    # name: (function, number of arguments, Lean reference)
    "conv_out": (conv_out, 5, _lean_conv),
    "pool_out": (pool_out, 5, _lean_conv),
    "conv_transpose_out": (conv_transpose_out, 6, _lean_conv_transpose),
}


def check_layer_call(name, args, semantics, op="max", ceil_mode=False):
    """Call one layer formula and check its answer against the rule (see the module)."""
    fn, count, lean_reference = LAYERS[name]
    assert len(args) == count
    kwargs = {"semantics": semantics}
    extras = ()
    if name == "pool_out":
        kwargs["op"] = op
        extras = (ceil_mode,)
        extras_ok = (isinstance(op, str) and op in ("max", "avg")
                     and isinstance(ceil_mode, (bool, np.bool_)))
    else:
        extras_ok = True
    status, value = outcome(lambda: fn(*args, *extras, **kwargs))
    valid = (isinstance(semantics, str) and semantics in ("lean", "torch") and extras_ok
             and valid_layer_args(args))
    if status == "error":
        check_error_names_values(value, [*args, semantics, *kwargs.values(), *extras])
        if valid:
            allowed = TORCH_RULES if semantics == "torch" else {Rule.LEAN_OPTION}
            assert value.rule in allowed, (value.rule, str(value))
        else:
            assert value.rule in INPUT_RULES, (value.rule, str(value))
        return status
    assert valid, f"{name}{shown(tuple(args))} {shown(kwargs)} returned {shown(value)}"
    assert_plain_ints(value)
    assert isinstance(value, tuple) == any(isinstance(a, (tuple, list)) for a in args)
    if semantics == "lean":
        # a result under "lean" means Lean's options sat at their defaults
        options = args[4:]
        defaults = LAYER_DEFAULTS[name]
        assert all(_all_equal(o, d) for o, d in zip(options, defaults, strict=True))
        assert not any(bool(e) for e in extras)
        assert value == _per_axis_reference(lambda *v: lean_reference(*v[:4]), args)
    else:
        # NumPy integers and lists read exactly like Python ints and tuples
        again = fn(*[plain(a) for a in args], *(bool(e) for e in extras), **kwargs)
        assert value == again
    return status


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=LAYER_EXAMPLES)
@given(data=st.data())
def test_layer_formulas_answer_every_input(name, data):
    args, semantics, op, ceil_mode = data.draw(layer_calls(name), label="call")
    check_layer_call(name, args, semantics, op, ceil_mode)


KNOWN_BAD = [
    ("conv_out", [10**5000, 3, 1, 0, 1], "lean", "max", False),
    ("conv_out", [-(10**5000), 3, 1, 0, 1], "torch", "max", False),
    ("conv_out", [(10**5000, 5), 3, 1, 0, 1], "torch", "max", False),
    ("conv_out", [5, 3, 1, 0, 1], 10**5000, "max", False),
    ("conv_out", [(5, 6), (3, 3, 3), 1, 0, 1], "lean", "max", False),
    ("conv_out", [(), 3, 1, 0, 1], "lean", "max", False),
    ("conv_out", [((5,),), 3, 1, 0, 1], "lean", "max", False),
    ("conv_out", [True, 3, 1, 0, 1], "lean", "max", False),
    ("conv_out", [5.0, 3, 1, 0, 1], "torch", "max", False),
    ("conv_out", ["5", 3, 1, 0, 1], "torch", "max", False),
    ("conv_out", [None, 3, 1, 0, 1], "torch", "max", False),
    ("conv_out", [np.int64(7), np.uint8(3), np.int16(1), np.int32(1), np.int8(1)], "torch",
     "max", False),
    ("conv_out", [7, 3, 1, 0, np.int64(1)], "lean", "max", False),
    ("pool_out", [(np.int64(7), np.uint8(9)), np.int32(3), 2, 1, 1], "torch", "avg", np.True_),
    ("pool_out", [7, 2, 2, 0, 1], "torch", 10**5000, False),
    ("pool_out", [7, 2, 2, 0, 1], "torch", np.array(["max", "avg"]), False),
    ("pool_out", [7, 2, 2, 0, 1], "torch", "max", 10**5000),
    ("conv_transpose_out", [3, 3, 2, 1, np.int64(1), 1], "torch", "max", False),
    ("conv_transpose_out", [3, 3, 2, 1, 0, [1, 1, 1]], "torch", "max", False),
    ("conv_transpose_out", [3, 3, 2, 1, 0, np.uint64(2**63)], "torch", "max", False),
]


@pytest.mark.parametrize("name, args, semantics, op, ceil_mode", KNOWN_BAD,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(KNOWN_BAD)])
def test_known_bad_values(name, args, semantics, op, ceil_mode):
    check_layer_call(name, args, semantics, op, ceil_mode)


# ---------------------------------------------------------------------------------------
# Configs and chains
# ---------------------------------------------------------------------------------------
CONFIGS = (UNet2Config, CNN2Config, ResNetConfig)


def _is_bool_field(f) -> bool:
    return f.type in ("bool", bool)


@st.composite
def config_kwargs(draw, kind, spoil: bool = True):
    """Up to four fields of ``kind`` set to valid values, then (maybe) one spoiled."""
    fields = dataclasses.fields(kind)
    chosen = draw(st.lists(st.sampled_from(fields), max_size=4, unique_by=lambda f: f.name))
    out = {}
    for f in chosen:
        out[f.name] = draw(st.one_of(st.booleans(), st.sampled_from([np.True_, np.False_]))
                           if _is_bool_field(f) else sizes(0, 4))
    if spoil and draw(st.booleans()):
        f = draw(st.sampled_from(fields))
        out[f.name] = draw(st.one_of(bad_scalars, st.sampled_from([1, 0, 2.0, "yes"]))
                           if _is_bool_field(f) else st.one_of(bad_scalars, spoiled(3)))
    return out


def _valid_config_kwargs(kind, kwargs) -> bool:
    fields = {f.name: f for f in dataclasses.fields(kind)}
    return all(isinstance(v, (bool, np.bool_)) if _is_bool_field(fields[k]) else is_size(v)
               for k, v in kwargs.items())


@pytest.mark.parametrize("kind", CONFIGS, ids=lambda k: k.__name__)
@settings(max_examples=CONFIG_EXAMPLES)
@given(data=st.data())
def test_configs_answer_every_field(kind, data):
    kwargs = data.draw(config_kwargs(kind), label="fields")
    status, value = outcome(lambda: kind(**kwargs))
    valid = _valid_config_kwargs(kind, kwargs)
    if status == "error":
        assert value.rule == Rule.CONFIG_FIELD and not valid, (str(value), shown(kwargs))
        check_error_names_values(value, list(kwargs.values()))
        return
    assert valid, f"{kind.__name__}({shown(kwargs)}) was accepted"
    for f in dataclasses.fields(kind):
        assert type(getattr(value, f.name)) is (bool if _is_bool_field(f) else int)
    assert value == kind(**{k: plain(v) if type(v) not in (bool, np.bool_) else bool(v)
                            for k, v in kwargs.items()})
    if kind is UNet2Config:
        assert type(value.well_formed()) is bool


#: every public chain function: name -> (its config's type or None, number of sizes)
CHAINS = {
    "unet_down": (UNet2Config, 1), "unet_up": (UNet2Config, 1),
    "unet2_obligations": (UNet2Config, 2),
    "out_h1": (CNN2Config, 1), "pool_h1": (CNN2Config, 1), "out_h2": (CNN2Config, 1),
    "pool_h2": (CNN2Config, 1), "out_w1": (CNN2Config, 1), "pool_w1": (CNN2Config, 1),
    "out_w2": (CNN2Config, 1), "pool_w2": (CNN2Config, 1), "cnn2_stages": (CNN2Config, 2),
    "cnn2_feat_shape": (CNN2Config, 2), "cnn2_feat_size": (CNN2Config, 2),
    "resnet_spatial": (ResNetConfig, 1), "torchvision_resnet_spatial": (None, 1),
}


def test_every_public_function_is_fuzzed():
    public = {name for name in shapes.__all__ if callable(getattr(shapes, name))
              and not isinstance(getattr(shapes, name), type)}
    assert public == set(CHAINS) | set(LAYERS)
    assert {name for name in shapes.__all__ if isinstance(getattr(shapes, name), type)
            and name != "ShapeError"} == {k.__name__ for k in CONFIGS}


@st.composite
def chain_calls(draw, name):
    """A config of the right type, sizes and a semantics; then up to two of them spoiled."""
    kind, count = CHAINS[name]
    cfg = kind(**draw(config_kwargs(kind, spoil=False))) if kind else None
    sizes_drawn = [draw(sizes(0, 80)) for _ in range(count)]
    semantics = draw(st.sampled_from(["lean", "torch"])) if kind else None
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        what = draw(st.sampled_from(["cfg", "size", "semantics"] if kind else ["size"]))
        if what == "cfg":
            cfg = draw(st.one_of(
                st.sampled_from([None, {"pool_kernel": 2}, 3, "UNet2Config", kind]),
                st.sampled_from([c for c in CONFIGS if c is not kind]).map(lambda c: c())))
        elif what == "size":
            i = draw(st.integers(0, count - 1))
            sizes_drawn[i] = draw(st.one_of(bad_scalars, spoiled(sizes_drawn[i]),
                                            st.lists(sizes(), min_size=1, max_size=3)))
        else:
            semantics = draw(st.sampled_from(BAD_SEMANTICS))
    return cfg, sizes_drawn, semantics


def check_chain_call(name, cfg, sizes_drawn, semantics):
    kind, count = CHAINS[name]
    fn = getattr(shapes, name)
    args = ([cfg] if kind else []) + list(sizes_drawn)
    kwargs = {"semantics": semantics} if kind else {}
    status, value = outcome(lambda: fn(*args, **kwargs))
    valid = ((kind is None or isinstance(cfg, kind))
             and all(is_size(n) for n in sizes_drawn)
             and (kind is None or (isinstance(semantics, str) and semantics in SEMANTICS)))
    if status == "error":
        check_error_names_values(value, [*sizes_drawn, semantics])
        if valid:
            assert (value.rule in TORCH_RULES and semantics == "torch" or kind is None
                    or _intermediate_too_large(value)), (
                value.rule, str(value))
        else:
            assert value.rule in INPUT_RULES, (value.rule, str(value))
        return status
    assert valid, f"{name}{shown(tuple(args))} {shown(kwargs)} returned {shown(value)}"
    assert_plain_ints(value)
    if name == "unet2_obligations":
        assert set(value) == set(shapes.UNET2_OBLIGATIONS)
    plain_args = ([cfg] if kind else []) + [int(n) for n in sizes_drawn]
    assert fn(*plain_args, **kwargs) == value
    return status


@pytest.mark.parametrize("name", CHAINS)
@settings(max_examples=CHAIN_EXAMPLES)
@given(data=st.data())
def test_chains_answer_every_input(name, data):
    cfg, sizes_drawn, semantics = data.draw(chain_calls(name), label="call")
    check_chain_call(name, cfg, sizes_drawn, semantics)


@pytest.mark.parametrize("name, cfg, sizes_drawn, semantics", [
    ("unet2_obligations", UNet2Config(), ["572", 572], "lean"),
    ("unet2_obligations", UNet2Config(), [572, 572], "jax"),
    ("unet2_obligations", UNet2Config(), [(572, 572), 572], "torch"),
    ("unet2_obligations", CNN2Config(), [572, 572], "torch"),
    ("cnn2_feat_size", CNN2Config(), [(28, 28), 28], "lean"),
    ("cnn2_feat_size", CNN2Config(), [np.int64(28), np.uint16(28)], "torch"),
    ("resnet_spatial", None, [224], "lean"),
    ("torchvision_resnet_spatial", None, [10**5000], None),
    ("torchvision_resnet_spatial", None, [np.int32(224)], None),
])
def test_known_bad_chain_calls(name, cfg, sizes_drawn, semantics):
    check_chain_call(name, cfg, sizes_drawn, semantics)


# ---------------------------------------------------------------------------------------
# The checks above can fail: plant a defect in the shape layer and see it caught
# ---------------------------------------------------------------------------------------
def _plant_repr(monkeypatch):
    monkeypatch.setattr(formulas, "shown", repr)  # repr of a 5001-digit int raises


def _plant_bool_size(monkeypatch):
    real = formulas.check_size
    monkeypatch.setattr(formulas, "check_size", lambda op, name, v: (
        int(v) if isinstance(v, bool) else real(op, name, v)))


def _plant_numpy_kept(monkeypatch):
    real = formulas.check_size
    monkeypatch.setattr(formulas, "check_size", lambda op, name, v: (
        v if isinstance(v, np.integer) else real(op, name, v)))


def _plant_unchecked_chain_size(monkeypatch):
    monkeypatch.setattr(chains, "_size", lambda op, name, v: v)


def _plant_unchecked_config(monkeypatch):
    monkeypatch.setattr(chains, "_config", lambda op, cfg, kind: cfg)


@pytest.mark.parametrize("plant, check, caught", [
    (_plant_repr, lambda: check_layer_call("conv_out", [10**5000, 3, 1, 0, 1], "lean"),
     ValueError),
    (_plant_bool_size, lambda: check_layer_call("conv_out", [True, 3, 1, 0, 1], "lean"),
     AssertionError),
    (_plant_numpy_kept, lambda: check_layer_call("conv_out", [np.int64(9), 3, 1, 0, 1],
                                                 "torch"), AssertionError),
    (_plant_unchecked_chain_size,
     lambda: check_chain_call("unet2_obligations", UNet2Config(), ["572", 572], "lean"),
     AssertionError),
    (_plant_unchecked_config,
     lambda: check_chain_call("unet_down", None, [572], "lean"), AttributeError),
], ids=["repr-of-huge-int", "bool-as-size", "numpy-int-kept", "obligations-swallow-bad-size",
        "config-unchecked"])
def test_a_planted_defect_is_caught(monkeypatch, plant, check, caught):
    check()  # passes on the real shape layer
    plant(monkeypatch)
    with pytest.raises(caught):
        check()
