"""Shape formulas: the three readings agree, Lean's Nat semantics, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import z3
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.spec.arith import IntReading, conditions, shown
from nnbridge.spec.errors import Rule
from nnbridge.spec.shapes import (
    CNN2Config,
    ResNetConfig,
    ShapeError,
    UNet2Config,
    cnn2_feat_shape,
    cnn2_feat_size,
    conv_out,
    conv_transpose_out,
    pool_out,
    resnet_spatial,
    torchvision_resnet_spatial,
    unet2_obligations,
    unet_up,
)

small = st.integers(0, 40)
FORMULAS = {
    "conv_out": lambda n, k, s, p, sem: conv_out(n, k, s, p, semantics=sem),
    "pool_out": lambda n, k, s, p, sem: pool_out(n, k, s, p, semantics=sem),
    "conv_transpose_out": lambda n, k, s, p, sem: conv_transpose_out(n, k, s, p, semantics=sem),
}


@pytest.mark.parametrize("name", FORMULAS)
@given(n=small, k=small, s=small, p=small)
def test_three_readings_agree_lean(name, n, k, s, p):
    """One formula: the Z3 term and the SymPy expression evaluate to the int reading."""
    fn = FORMULAS[name]
    want = fn(n, k, s, p, "lean")
    zn, zk, zs, zp = z3.Ints("n k s p")
    term = fn(zn, zk, zs, zp, "lean")
    got_z3 = z3.simplify(z3.substitute(term, (zn, z3.IntVal(n)), (zk, z3.IntVal(k)),
                                       (zs, z3.IntVal(s)), (zp, z3.IntVal(p))))
    assert got_z3.as_long() == want
    sn = sp.Symbol("n", integer=True, nonnegative=True)
    assert int(sp.sympify(fn(sn, k, s, p, "lean")).subs(sn, n)) == want


@pytest.mark.parametrize("name", FORMULAS)
@given(n=small, k=st.integers(1, 9), s=st.integers(1, 5), p=st.integers(0, 4))
def test_three_readings_agree_torch(name, n, k, s, p):
    """The symbolic PyTorch reading: conditions hold exactly where the int reading runs."""
    fn = FORMULAS[name]
    try:
        want = fn(n, k, s, p, "torch")
    except ShapeError:
        want = None
    zn = z3.Int("n")
    try:
        with conditions() as conds:
            term = fn(zn, k, s, p, "torch")
    except ShapeError:  # a rule that fails whatever n is
        assert want is None
        return
    ok = z3.simplify(z3.substitute(z3.And(*[c for _, c in conds]) if conds else z3.BoolVal(True),
                                   (zn, z3.IntVal(n))))
    assert z3.is_true(ok) == (want is not None)
    if want is not None:
        assert z3.simplify(z3.substitute(term, (zn, z3.IntVal(n)))).as_long() == want


def test_lean_values_from_the_semantics_page():
    assert conv_out(1, 3, 1, 0) == 1  # in + 2p < k: a phantom cell
    assert conv_out(5, 3, 0, 1) == 1  # s = 0
    assert conv_out(5, 0, 1, 0) == 6  # k = 0
    assert conv_transpose_out(1, 3, 1, 1) == 3
    assert conv_transpose_out(1, 3, 1, 1, semantics="torch") == 1
    assert pool_out(7, 2, 2) == 3 and pool_out(1, 2, 2) == 1
    assert [unet_up(UNet2Config(), n) for n in range(6)] == [2, 2, 2, 2, 4, 4]


def test_per_axis_tuples():
    assert conv_out((5, 6), 3, (1, 2), 1) == (5, 3)
    assert pool_out((4, 5, 6), (2, 2, 3), 2) == (2, 2, 2)
    assert conv_transpose_out([3, 4], 2, 2) == (6, 8)
    with pytest.raises(ShapeError, match="number of axes"):
        conv_out((5, 6), (3, 3, 3), 1)
    with pytest.raises(ShapeError, match="at least one axis"):
        conv_out((), 3, 1)


def test_chains():
    cfg = CNN2Config()
    assert cnn2_feat_shape(cfg, 28, 28) == (64, 7, 7)
    assert cnn2_feat_size(cfg, 28, 28) == 64 * 49
    assert resnet_spatial(ResNetConfig(), 224)["pool"] == 55
    assert torchvision_resnet_spatial(224)["pool"] == 56
    assert torchvision_resnet_spatial(224)["stage4"] == 7
    obls = unet2_obligations(UNet2Config(), 572, 573)
    assert [k for k, v in obls.items() if not v] == ["h_upW"]
    assert all(unet2_obligations(UNet2Config(), 64, 2).values())


@pytest.mark.parametrize("bad, rule", [
    (-1, "nonneg_size"), (True, "integer_size"), (2.0, "integer_size"), ("5", "integer_size"),
    (None, "integer_size"), (2**60, "huge_size"), (np.True_, "integer_size"),
    (np.float32(5), "integer_size"), (np.array(5), "integer_size"), ((5,), "integer_size"),
])
def test_bad_sizes_name_the_rule_and_value(bad, rule):
    with pytest.raises(ShapeError) as info:
        conv_out(bad if not isinstance(bad, tuple) else (bad,), 3, 1, 1)
    assert info.value.rule == rule and isinstance(info.value.rule, Rule)
    assert shown(bad) in str(info.value)


@pytest.mark.parametrize("digits, sign, rule", [
    (5000, 1, Rule.HUGE_SIZE), (5000, -1, Rule.NONNEG_SIZE), (20000, 1, Rule.HUGE_SIZE),
])
def test_ints_past_the_str_limit_are_refused_by_name(digits, sign, rule):
    """repr() of these raises ValueError (4300 digits); the message shows a short form."""
    bad = sign * 10**digits
    for call in (lambda: conv_out(bad, 3, 1), lambda: pool_out((5, bad), 2, 2),
                 lambda: conv_transpose_out(5, 3, 1, bad, semantics="torch")):
        with pytest.raises(ShapeError) as info:
            call()
        assert info.value.rule == rule
        assert "digits" in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(ShapeError, match="digits") as info:
        UNet2Config(base_c=bad)
    assert info.value.rule == Rule.CONFIG_FIELD


def test_numpy_integers_read_as_ints():
    """NumPy integers are sizes; the results are Python ints (no fixed-width arithmetic)."""
    got = conv_transpose_out(np.int64(2**40), np.uint32(2**20), np.int32(2**20),
                             semantics="torch")
    assert got == (2**40 - 1) * 2**20 + 2**20 and type(got) is int
    assert pool_out((np.int8(7), np.uint8(9)), np.int16(3), 2, ceil_mode=np.True_,
                    semantics="torch") == (3, 4)
    cfg = UNet2Config(pool_kernel=np.int64(2))
    assert type(cfg.pool_kernel) is int and cfg == UNet2Config()
    assert ResNetConfig(use_projection_shortcuts=np.True_).use_projection_shortcuts is True
    assert unet_up(cfg, np.uint16(64)) == 64


def test_shown_is_short_and_never_raises():
    assert shown(10**5000) == "<an integer of about 5001 digits>"
    assert shown(2**60) == str(2**60)
    deep = ()
    for _ in range(10_000):
        deep = (deep,)
    assert len(shown(deep)) < 100
    assert len(shown("x" * 10_000)) < 100

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert shown(Broken()) == "<Broken object>"


def test_require_takes_a_rule_and_passes_it_on():
    r = IntReading()
    with pytest.raises(ShapeError) as info:
        r.require(False, Rule.KERNEL_FITS, "window {w} too large", w=9)
    assert info.value.rule is Rule.KERNEL_FITS and str(info.value) == "window 9 too large"
    with pytest.raises(ShapeError) as info:
        r.require(False, "stride_positive", "stride {s}", s=0)
    assert info.value.rule is Rule.STRIDE_POSITIVE
    with pytest.raises(TypeError, match="not one of nnbridge's rules"):
        r.require(False, "no_such_rule", "x")
    r.require(True, Rule.KERNEL_FITS, "never formatted {missing}")


def test_symbolic_conditions_carry_rules():
    with conditions() as conds:
        conv_transpose_out(z3.Int("n"), z3.Int("k"), 2, 1, semantics="torch")
    rules = [rule for rule, _ in conds]
    assert rules and all(isinstance(rule, Rule) for rule in rules)
    assert Rule.KERNEL_POSITIVE in rules and Rule.OUTPUT_POSITIVE in rules


@pytest.mark.parametrize("call, rule", [
    (lambda: unet_up(None, 5), Rule.CONFIG_TYPE),
    (lambda: cnn2_feat_size(UNet2Config(), 28, 28), Rule.CONFIG_TYPE),
    (lambda: cnn2_feat_size(CNN2Config(), (28, 28), 28), Rule.INTEGER_SIZE),
    (lambda: unet2_obligations(UNet2Config(), "572", 572), Rule.INTEGER_SIZE),
    (lambda: unet2_obligations(UNet2Config(), 572, 572, semantics="jax"), Rule.SEMANTICS),
    (lambda: resnet_spatial(ResNetConfig(), -3), Rule.NONNEG_SIZE),
    (lambda: torchvision_resnet_spatial(224.0), Rule.INTEGER_SIZE),
    (lambda: conv_out(z3.Real("x"), 3, 1), Rule.INTEGER_SIZE),
    (lambda: conv_out(sp.Rational(1, 2), 3, 1), Rule.INTEGER_SIZE),
    (lambda: conv_out(sp.Integer(-2), 3, 1), Rule.INTEGER_SIZE),
])
def test_chains_check_their_arguments(call, rule):
    """A bad config, size or semantics is an error, never a False obligation or a crash."""
    with pytest.raises(ShapeError) as info:
        call()
    assert info.value.rule == rule


def test_well_formed_reads_symbolically():
    k = z3.Int("k")
    wf = UNet2Config(pool_kernel=k).well_formed()
    assert isinstance(wf, z3.BoolRef)
    assert UNet2Config().well_formed() is True and UNet2Config(base_c=0).well_formed() is False


@pytest.mark.parametrize("call, match", [
    (lambda: conv_out(5, 3, 1, 0, 2), "no dilation"),
    (lambda: pool_out(5, 2, 2, ceil_mode=True), "no ceil_mode"),
    (lambda: conv_transpose_out(5, 2, 2, 0, 1), "no output_padding"),
    (lambda: conv_out(5, 3, 1, semantics="jax"), "unknown semantics"),
    (lambda: pool_out(5, 2, 2, op="min"), "op must be"),
    (lambda: pool_out(5, 2, 2, ceil_mode=1), "ceil_mode must be a bool"),
    (lambda: conv_out(5, 3, 0, semantics="torch"), "stride must be greater than zero"),
    (lambda: conv_out(2, 7, 1, 1, semantics="torch"), "kernel's reach"),
    (lambda: pool_out(5, 2, 1, 2, semantics="torch"), "at most half of kernel size"),
    (lambda: conv_transpose_out(3, 3, 1, 0, 1, semantics="torch"), "smaller than either"),
    (lambda: UNet2Config(pool_kernel=-2), "non-negative integer"),
    (lambda: ResNetConfig(use_projection_shortcuts=1), "must be a bool"),
])
def test_bad_arguments_give_clear_errors(call, match):
    with pytest.raises(ShapeError, match=match):
        call()


def test_symbolic_torch_outside_conditions_is_refused():
    with pytest.raises(ShapeError, match="conditions"):
        conv_out(z3.Int("n"), 3, 1, 1, semantics="torch")


def test_the_shape_layer_imports_neither_numpy_nor_a_solver():
    """The shapes stay cheap to import (a cold `unet check`); NumPy values are still read."""
    import subprocess
    import sys

    code = ("import sys, nnbridge.spec.shapes as s; s.conv_out(5, 3, 1); "
            "print(sorted(m for m in ('numpy', 'z3', 'sympy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
