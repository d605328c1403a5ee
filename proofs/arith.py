"""The arithmetic interface itself: each operation of the Z3 reading meets its definition.

Every shape formula is built from :mod:`nnbridge.spec.arith`'s operations, so the proofs
above rest on them. Here each operation is characterised by properties that pin it down
(a quotient by its bounds, Lean's truncated subtraction by its three cases, a comparison by
its relation to the others), stated over Z3 terms for all integers. The ``int`` and SymPy
readings are compared with this proved one on a grid by
:func:`nnbridge.proofs.readings.operations_disagree`.
"""

from __future__ import annotations

import z3
from nnbridge.spec.arith import reading_for

from .engine import Proof, nats, obligation


def _z3():
    a, b = z3.Ints("a b")
    return a, b, reading_for(a, b)


@obligation("arith")
def arith_nat_sub_truncates():
    """For all naturals a, b: nat_sub(a, b) >= 0; it is a - b when a >= b (so adding b
    gives a back) and 0 when a < b (Lean's Nat.sub)."""
    (a, b), nat = nats("a b")
    t = reading_for(a, b).nat_sub(a, b)
    return Proof([a, b], nat, {"nonneg": t >= 0, "exact": z3.Implies(a >= b, t + b == a),
                               "truncates": z3.Implies(a < b, t == 0)}, subjects=[t])


@obligation("arith")
def arith_nat_div_bounds():
    """For all naturals a, b: nat_div(a, 0) = 0 (Lean's x / 0 = 0), and for b >= 1 the
    quotient q = nat_div(a, b) satisfies q*b <= a < q*b + b."""
    (a, b), nat = nats("a b")
    q = reading_for(a, b).nat_div(a, b)
    return Proof([a, b], nat, {"by_zero": z3.Implies(b == 0, q == 0),
                               "below": z3.Implies(b >= 1, q * b <= a),
                               "above": z3.Implies(b >= 1, a < q * b + b)}, subjects=[q])


@obligation("arith")
def arith_floor_div_bounds():
    """For every integer a and b >= 1 (PyTorch's div_rtn, a may be negative): the quotient
    q = floor_div(a, b) satisfies q*b <= a < q*b + b."""
    a, b, r = _z3()
    q = r.floor_div(a, b)
    return Proof([a, b], [b >= 1], {"below": q * b <= a, "above": a < q * b + b},
                 subjects=[q])


@obligation("arith")
def arith_ceil_div_bounds():
    """For every integer a and b >= 1: the quotient q = ceil_div(a, b) satisfies
    q*b - b < a <= q*b."""
    a, b, r = _z3()
    q = r.ceil_div(a, b)
    return Proof([a, b], [b >= 1], {"below": q * b - b < a, "above": a <= q * b},
                 subjects=[q])


@obligation("arith")
def arith_add_sub_mul():
    """For all integers a, b: sub(add(a, b), b) = a and add(sub(a, b), b) = a; mul(a, 0) = 0,
    mul(a, 1) = a and mul(a, b + 1) = mul(a, b) + a (multiplication, by b's successor)."""
    a, b, r = _z3()
    added, taken = r.add(a, b), r.sub(a, b)
    times, times_next = r.mul(a, b), r.mul(a, b + 1)
    return Proof([a, b], [], {
        "add": r.sub(added, b) == a,
        "sub": r.add(taken, b) == a,
        "mul_zero": r.mul(a, z3.IntVal(0)) == 0,
        "mul_one": r.mul(a, z3.IntVal(1)) == a,
        "mul_step": times_next == times + a,
    }, subjects=[added, taken, times_next])


@obligation("arith")
def arith_max():
    """For all integers a, b: max(a, b) >= a, max(a, b) >= b, and it is a or b."""
    a, b, r = _z3()
    m = r.max(a, b)
    return Proof([a, b], [], {"upper": z3.And(m >= a, m >= b), "attained": z3.Or(m == a, m == b)},
                 subjects=[m])


@obligation("arith")
def arith_comparisons():
    """For all integers a, b: ge(a, b) holds exactly when a = b or b < a; lt(a, b) is its
    negation; eq(a, b) holds exactly when a - b = 0; and, for d >= 1, divides(d, a) holds
    exactly when a = d * floor_div(a, d)."""
    a, b, r = _z3()
    ge, lt, eq, divides = r.ge(a, b), r.lt(a, b), r.eq(a, b), r.divides(b, a)
    return Proof([a, b], [], {
        "ge": ge == z3.Or(a == b, b < a),
        "lt": lt == z3.Not(ge),
        "eq": eq == (a - b == 0),
        "divides": z3.Implies(b >= 1, divides == (a == b * r.floor_div(a, b))),
    }, subjects=[ge, lt, eq, divides])
