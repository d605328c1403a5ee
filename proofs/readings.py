"""Concrete shape checks: the three readings agree on a grid, and the documented values hold.

Sampled checks, never called proofs: the mutation runner (:mod:`nnbridge.proofs.mutation`)
runs them after the obligations, because a defect in one *reading* of the arithmetic (the
``int`` one that runs, or the SymPy one closed forms are derived from) can hide from proofs
that are stated over the Z3 reading. Each check returns the list of its failures (empty when
it holds); none raises on a failure.

* :func:`readings_disagree`: for every layer formula in both semantics, on a grid of small
  sizes, the ``int`` reading equals the Z3 term and the SymPy expression evaluated there
  (under PyTorch's semantics: the conditions hold exactly where the ``int`` reading runs);
* :func:`operations_disagree`: each operation of the arithmetic interface, read as ``int``,
  as Z3 (every mix of ``int`` and Z3 arguments, since the Z3 reading folds two ``int``
  arguments itself) and as SymPy, on a grid of small integers; the Z3 reading is the one
  :mod:`nnbridge.proofs.arith` proves;
* :func:`documented_values_fail`: values stated by TorchLean's semantics page and PyTorch's
  documentation (a phantom cell, ``x / 0 = 0``, ResNet's 224 -> 112 -> 55/56, ...).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import sympy as sp
import z3
from nnbridge.spec.arith import IntReading, SymPyReading, Z3Reading, conditions
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.formulas import SEMANTICS
from nnbridge.spec.shapes import (
    CNN2Config,
    ResNetConfig,
    UNet2Config,
    cnn2_feat_shape,
    conv_out,
    conv_transpose_out,
    pool_out,
    resnet_spatial,
    torchvision_resnet_spatial,
    unet_up,
)

__all__ = ["CHECKS", "documented_values_fail", "operations_disagree", "readings_disagree"]

FORMULAS: dict[str, Callable] = {
    "conv_out": lambda n, k, s, p, sem: conv_out(n, k, s, p, semantics=sem),
    "pool_out": lambda n, k, s, p, sem: pool_out(n, k, s, p, semantics=sem),
    "pool_out ceil_mode": lambda n, k, s, p, sem: pool_out(n, k, s, p, ceil_mode=sem == "torch",
                                                           semantics=sem),
    "conv_transpose_out": lambda n, k, s, p, sem: conv_transpose_out(n, k, s, p, semantics=sem),
}
# n, k, s, p: zeros included (Lean's x/0 = 0 and k = 0), wide enough to cross every boundary
Z3_GRID = list(itertools.product(range(0, 7), range(0, 5), range(0, 4), range(0, 3)))
SYMPY_PARAMS = list(itertools.product(range(0, 4), range(0, 3), range(0, 2)))
SYMPY_SIZES = range(0, 7)


def _int(fn, *args):
    try:
        return fn(*args)
    except ShapeError:
        return None


def _symbolic(fn, *args):
    """``(value, conditions)`` of a symbolic reading; ``(None, [])`` if it always raises."""
    try:
        with conditions() as conds:
            value = fn(*args)
    except ShapeError:
        return None, []
    return value, [c for _, c in conds]


def _z3_values(term, conds, variables, points) -> list[int | None]:
    """The Z3 reading at each point: its value where every condition holds, else ``None``."""
    if term is None:
        return [None] * len(points)
    if not z3.is_expr(term):
        term = z3.IntVal(term)
    checks = [z3.BoolVal(c) if isinstance(c, bool) else c for c in conds]
    # one term per point: the value where PyTorch runs, -1 (never a size) where it raises
    probe = z3.If(z3.And(*checks), term, -1) if checks else term
    found = []
    for point in points:
        got = z3.simplify(z3.substitute(probe, *[(v, z3.IntVal(x))
                                                  for v, x in zip(variables, point, strict=True)]))
        value = got.as_long() if z3.is_int_value(got) else str(got)
        found.append(None if value == -1 else value)
    return found


def readings_disagree() -> list[str]:
    """Points where the int, Z3 and SymPy readings of a layer formula disagree."""
    found = []
    zs = z3.Ints("n k s p")
    n = sp.Symbol("n", integer=True, nonnegative=True)
    for (name, fn), sem in itertools.product(FORMULAS.items(), SEMANTICS):
        term, conds = _symbolic(fn, *zs, sem)
        for point, got in zip(Z3_GRID, _z3_values(term, conds or [], zs, Z3_GRID), strict=True):
            want = _int(fn, *point, sem)
            if got != want:
                found.append(f"{name} {sem} at (n, k, s, p) = {point}: int {want}, Z3 {got}")
        for k, s, p in SYMPY_PARAMS:
            expr, conds = _symbolic(fn, n, k, s, p, sem)
            for size in SYMPY_SIZES:
                want = _int(fn, size, k, s, p, sem)
                runs = expr is not None and all(bool(sp.sympify(c).subs(n, size))
                                                for c in conds)
                got = int(sp.sympify(expr).subs(n, size)) if runs else None
                if got != want:
                    found.append(f"{name} {sem} at (n, k, s, p) = {(size, k, s, p)}: int "
                                 f"{want}, SymPy {got}")
    return found


_ANY = range(-3, 6)
_NAT = range(0, 7)
# operation -> the (a, b) it is compared on: Lean's operations on naturals, PyTorch's
# quotients with a positive divisor, the rest on any integers
OPERATIONS: dict[str, list[tuple[int, int]]] = {
    "add": list(itertools.product(_ANY, _ANY)),
    "sub": list(itertools.product(_ANY, _ANY)),
    "mul": list(itertools.product(_ANY, _ANY)),
    "max": list(itertools.product(_ANY, _ANY)),
    "ge": list(itertools.product(_ANY, _ANY)),
    "lt": list(itertools.product(_ANY, _ANY)),
    "eq": list(itertools.product(_ANY, _ANY)),
    "nat_sub": list(itertools.product(_NAT, _NAT)),
    "nat_div": list(itertools.product(_NAT, range(0, 4))),
    "floor_div": list(itertools.product(range(-6, 7), range(1, 5))),
    "ceil_div": list(itertools.product(range(-6, 7), range(1, 5))),
    "divides": list(itertools.product(range(1, 5), range(-4, 9))),
}


def _plain(value):
    """A reading's result as a Python int or bool."""
    if isinstance(value, (bool, int)):
        return value
    if z3.is_expr(value):
        value = z3.simplify(value)
        return z3.is_true(value) if z3.is_bool(value) else value.as_long()
    value = sp.sympify(value)
    return bool(value) if value.is_Boolean else int(value)


def operations_disagree() -> list[str]:
    """Points where an operation's Z3 or SymPy reading differs from its ``int`` reading."""
    found = []
    readings = {"int": IntReading(), "z3": Z3Reading(), "sympy": SymPyReading()}
    x, y = sp.Symbol("x", integer=True), sp.Symbol("y", integer=True)
    for name, points in OPERATIONS.items():
        want = {point: getattr(readings["int"], name)(*point) for point in points}
        for point in points:
            a, b = point
            z3_args = [(a, b), (z3.IntVal(a), b), (a, z3.IntVal(b)), (z3.IntVal(a), z3.IntVal(b))]
            got = {f"Z3 {i}": _plain(getattr(readings["z3"], name)(*args))
                   for i, args in enumerate(z3_args)}
            got["SymPy"] = _plain(getattr(readings["sympy"], name)(sp.Integer(a), sp.Integer(b)))
            for label, value in got.items():
                if value != want[point]:
                    found.append(f"{name}{point}: int {want[point]}, {label} {value}")
        # the symbolic branches of the SymPy reading (a sign SymPy cannot decide)
        expr = getattr(readings["sympy"], name)(x, y)
        for a, b in points[::3]:
            value = _plain(sp.sympify(expr).subs({x: a, y: b}))
            if value != want[(a, b)]:
                found.append(f"{name}{(a, b)}: int {want[(a, b)]}, SymPy (symbolic) {value}")
    return found


# (what, thunk, value): TorchLean's semantics page and PyTorch's documented shapes
DOCUMENTED = [
    ("Lean conv_out(1, 3, 1, 0): a phantom cell", lambda: conv_out(1, 3, 1, 0), 1),
    ("Lean conv_out(5, 3, 0, 1): x/0 = 0", lambda: conv_out(5, 3, 0, 1), 1),
    ("Lean conv_out(5, 0, 1, 0): kernel 0", lambda: conv_out(5, 0, 1, 0), 6),
    ("Lean conv_transpose_out(1, 3, 1, 1): truncation", lambda: conv_transpose_out(1, 3, 1, 1),
     3),
    ("PyTorch conv_transpose_out(1, 3, 1, 1)",
     lambda: conv_transpose_out(1, 3, 1, 1, semantics="torch"), 1),
    ("Lean pool_out(7, 2, 2)", lambda: pool_out(7, 2, 2), 3),
    ("the defaults: padding 0, dilation 1, output_padding 0",
     lambda: [conv_out(28, 3, 1), conv_out(28, 3, 1, semantics="torch"),
              pool_out(28, 2, 2, semantics="torch"), conv_transpose_out(7, 2, 2),
              conv_transpose_out(7, 2, 2, semantics="torch")], [26, 26, 14, 14, 14]),
    ("PyTorch max_pool(112, 3, 2, padding 1)", lambda: pool_out(112, 3, 2, 1, semantics="torch"),
     56),
    ("PyTorch max_pool(5, 2, 2, ceil_mode)",
     lambda: pool_out(5, 2, 2, ceil_mode=True, semantics="torch"), 3),
    ("UNetUpH for n = 0..5", lambda: [unet_up(UNet2Config(), n) for n in range(6)],
     [2, 2, 2, 2, 4, 4]),
    ("CNN2 featShape at 28x28", lambda: cnn2_feat_shape(CNN2Config(), 28, 28), (64, 7, 7)),
    ("the ResNet spec's chain at 224 (stem, pool, four stages, global pool)",
     lambda: resnet_spatial(ResNetConfig(), 224),
     {"stem": 112, "pool": 55, "stage1": 55, "stage2": 55, "stage3": 55, "stage4": 55,
      "global_pool": 1}),
    ("torchvision's resnet18 chain at 224", lambda: torchvision_resnet_spatial(224),
     {"stem": 112, "pool": 56, "stage1": 56, "stage2": 28, "stage3": 14, "stage4": 7,
      "global_pool": 1}),
]


def documented_values_fail() -> list[str]:
    """The documented values that the formulas do not reproduce."""
    found = []
    for what, thunk, value in DOCUMENTED:
        try:
            got = thunk()
        except ShapeError as exc:
            got = f"raises {exc.rule}"
        if got != value:
            found.append(f"{what}: expected {value}, got {got}")
    return found


#: name -> check, in the order the mutation runner tries them (cheapest first)
CHECKS: dict[str, Callable[[], list[str]]] = {
    "documented_values": documented_values_fail,
    "operations_agree": operations_disagree,
    "three_readings_agree": readings_disagree,
}
