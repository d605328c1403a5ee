"""Closed forms of size chains, derived by SymPy and handed to Z3 for proof.

A chain built from the shape formulas (floors of linear maps, truncated subtractions) is,
from some threshold on, linear on each residue class modulo a period ``P`` (the product of
the divisors it contains). :func:`derive` finds it: it substitutes ``n = P*(q + t) + r`` for
every residue ``r``, lets SymPy simplify each branch to ``a_r*q + b_r`` (``q >= 0``),
recognises the common shape (``a*n + b``, ``a*floor(n/P) + b``, ``a*ceiling(n/P) + b``, or a
piecewise by residue) and lists the small sizes below the threshold that differ.

Nothing here is trusted: :class:`nnbridge.proofs.engine.ClosedForm` converts the result
with :func:`sympy_to_z3` and Z3 proves it equal to the chain for all sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
import z3

__all__ = ["Derivation", "derive", "describe", "fit", "size_symbol", "sympy_to_z3"]


@dataclass
class Derivation:
    closed: sp.Expr  # the closed form in the chain's variable
    general: sp.Expr  # the form that holds from the threshold on
    period: int
    threshold: int  # the general form holds for every n >= threshold
    exceptions: dict[int, int]  # sizes in [lower, threshold) where the general form differs


def size_symbol(name: str = "n") -> sp.Symbol:
    """The SymPy symbol :func:`derive` writes its forms in (a non-negative integer), so that
    a stated form and a derived one compare structurally."""
    return sp.Symbol(name, integer=True, nonnegative=True)


def _divisors(expr: sp.Basic) -> list[int]:
    found = []
    for atom in expr.atoms(sp.floor, sp.ceiling):
        _, den = sp.fraction(sp.together(atom.args[0]))
        if den.is_Integer and den > 1:
            found.append(int(den))
    return found


def _linear_in(expr: sp.Expr, q: sp.Symbol) -> tuple[sp.Expr, sp.Expr] | None:
    if expr.has(sp.floor, sp.ceiling, sp.Max, sp.Min, sp.Piecewise, sp.Mod):
        return None
    poly = sp.Poly(sp.expand(expr), q)
    if poly.degree() > 1 or any(s != q for s in poly.free_symbols):
        return None
    a = poly.coeff_monomial(q)
    b = poly.coeff_monomial(1)
    if not (a.is_Integer and b.is_Integer):
        return None
    return a, b


def derive(chain: Callable, name: str = "n", lower: int = 1, max_shift: int = 8) -> Derivation:
    """Derive the closed form of ``chain(n)`` for integers ``n >= lower``.

    ``chain`` must accept an ``int`` and a SymPy symbol alike (it is built from the shape
    formulas). Raises ``ValueError`` when no shape is recognised within ``max_shift``.
    """
    n = size_symbol(name)
    q = sp.Symbol("q", integer=True, nonnegative=True)
    expr = sp.sympify(chain(n))
    period = math.prod(_divisors(expr)) or 1
    for shift in range(max_shift + 1):
        branches = []
        for r in range(period):
            branch = _linear_in(expr.subs(n, period * (q + shift) + r), q)
            if branch is None:
                break
            branches.append(branch)
        if len(branches) == period:
            break
    else:
        raise ValueError(f"no closed form found for {expr} (period {period})")
    return _recognise(n, chain, branches, period, shift, lower)


def fit(chain: Callable, period: int, name: str = "n", lower: int = 1,
        max_shift: int = 8) -> Derivation:
    """The closed form of ``chain(n)`` for ``n >= lower`` from its ``int`` values alone: on
    each residue ``r`` mod ``period``, from the first shift where four consecutive values
    ``chain(P*(q + shift) + r)`` are linear in ``q``, the same shapes as :func:`derive`.

    For chains SymPy cannot expand in useful time (crops with clamped bounds); ``chain``
    takes ints only. Nothing is trusted: the form is proposed, and Z3 proves it
    (:class:`~nnbridge.proofs.engine.ClosedForm`). Raises ``ValueError`` when no shift
    within ``max_shift`` periods (past ``lower``) is linear on every residue.
    """
    n = size_symbol(name)
    start = -(-lower // period)  # the first shift with P*shift >= lower
    for shift in range(start, start + max_shift + 1):
        branches = []
        for r in range(period):
            values = [chain(period * (q + shift) + r) for q in range(4)]
            if any(v is None for v in values):
                break
            steps = {values[q + 1] - values[q] for q in range(3)}
            if len(steps) != 1:
                break
            branches.append((sp.Integer(steps.pop()), sp.Integer(values[0])))
        if len(branches) == period:
            return _recognise(n, chain, branches, period, shift, lower)
    raise ValueError(f"no closed form found within {max_shift} periods of {period}")


def _recognise(n, chain, branches, period: int, shift: int, lower: int) -> Derivation:
    """The common shape of per-residue linear branches ``a_r*q + b_r`` at
    ``n = P*(q + shift) + r``, and the sizes in ``[lower, P*shift)`` that differ."""
    threshold = max(lower, period * shift)

    # value at n = P*(q + shift) + r is a_r*q + b_r, and floor(n/P) = q + shift
    consts = [b - a * shift for a, b in branches]  # value = a_r*floor(n/P) + consts[r]
    slopes = {a for a, _ in branches}
    general = None
    if len(slopes) == 1:
        (a,) = slopes
        if len(set(consts)) == 1:
            general = a * sp.floor(n / period) + consts[0]
        # a*floor(n/P) + c_r = (a/P)*n - a*r/P + c_r: linear when that is r-independent
        offsets = {consts[r] - sp.Rational(a * r, period) for r in range(period)}
        if len(offsets) == 1 and sp.Rational(a, period).is_Integer:
            general = sp.Rational(a, period) * n + offsets.pop()
        elif general is None and period > 1 and len(set(consts[1:])) == 1 \
                and consts[1] == consts[0] + a:
            general = a * sp.ceiling(n / period) + consts[0]
        elif general is None and period > 1 and a != 0:
            # one step of a at residue t: a*floor((n + P - t)/P) + c_0
            steps = [t for t in range(1, period) if consts[t] != consts[t - 1]]
            if len(steps) == 1 and consts[steps[0]] == consts[0] + a and \
                    len(set(consts[:steps[0]])) == 1 and len(set(consts[steps[0]:])) == 1:
                general = a * sp.floor((n + period - steps[0]) / period) + consts[0]
    if general is None:
        general = sp.Piecewise(
            *[(a * sp.floor(n / period) + c, sp.Eq(sp.Mod(n, period), r))
              for r, ((a, _), c) in enumerate(zip(branches, consts, strict=True))
              if r < period - 1],
            (branches[-1][0] * sp.floor(n / period) + consts[-1], True))

    exceptions = {}
    for k in range(lower, threshold):
        value = int(chain(k))
        if value != int(general.subs(n, k)):
            exceptions[k] = value
    closed = general
    if exceptions:
        values = set(exceptions.values())
        first_regular = max(exceptions) + 1
        if len(values) == 1 and sorted(exceptions) == list(range(lower, first_regular)):
            closed = sp.Piecewise((values.pop(), n < first_regular), (general, True))
        else:
            closed = sp.Piecewise(*[(v, sp.Eq(n, k)) for k, v in exceptions.items()],
                                  (general, True))
    return Derivation(closed, general, period, threshold, exceptions)


def _condition(cond) -> str:
    if isinstance(cond, sp.Eq):
        return f"{cond.lhs} = {cond.rhs}"
    return str(cond)


def describe(expr) -> str:
    """A closed form as a statement prints it: a piecewise form reads "1 for H < 4, else
    floor(H/4)"; anything else is SymPy's own text."""
    if isinstance(expr, sp.Piecewise):
        pieces = [f"{value} for {_condition(cond)}" for value, cond in expr.args
                  if cond is not sp.true]
        last_value, last_cond = expr.args[-1]
        if last_cond is sp.true:
            pieces.append(f"else {last_value}")
        return ", ".join(pieces)
    return str(expr)


def sympy_to_z3(expr, env: dict[str, z3.ArithRef]):
    """Translate a SymPy integer expression (floor, ceiling, Max, Min, Mod, Piecewise) to Z3."""
    conv = lambda e: sympy_to_z3(e, env)  # noqa: E731
    if expr is sp.true or expr is True:
        return z3.BoolVal(True)
    if expr is sp.false or expr is False:
        return z3.BoolVal(False)
    if isinstance(expr, sp.Symbol):
        return env[expr.name]
    if expr.is_Integer:
        return z3.IntVal(int(expr))
    if isinstance(expr, (sp.floor, sp.ceiling)):
        num, den = sp.fraction(sp.together(expr.args[0]))
        if not (den.is_Integer and den > 0):
            raise ValueError(f"cannot translate {expr}: divisor is not a positive integer")
        if isinstance(expr, sp.floor):
            return conv(num) / int(den)
        return -((-conv(num)) / int(den))
    if isinstance(expr, sp.Add):
        return sum((conv(a) for a in expr.args[1:]), conv(expr.args[0]))
    if isinstance(expr, sp.Mul):
        result = conv(expr.args[0])
        for a in expr.args[1:]:
            result = result * conv(a)
        return result
    if isinstance(expr, (sp.Max, sp.Min)):
        args = [conv(a) for a in expr.args]
        result = args[0]
        for a in args[1:]:
            result = z3.If(result >= a, result, a) if isinstance(expr, sp.Max) \
                else z3.If(result <= a, result, a)
        return result
    if isinstance(expr, sp.Mod):
        return conv(expr.args[0]) % conv(expr.args[1])
    if isinstance(expr, sp.Piecewise):
        result = None
        for value, cond in reversed(expr.args):
            result = conv(value) if result is None else z3.If(conv(cond), conv(value), result)
        return result
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        base = conv(expr.base)
        result = base
        for _ in range(int(expr.exp) - 1):
            result = result * base
        return result
    rel = {sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b, sp.Lt: lambda a, b: a < b,
           sp.Le: lambda a, b: a <= b, sp.Gt: lambda a, b: a > b, sp.Ge: lambda a, b: a >= b}
    for cls, op in rel.items():
        if isinstance(expr, cls):
            return op(conv(expr.lhs), conv(expr.rhs))
    if isinstance(expr, sp.And):
        return z3.And(*[conv(a) for a in expr.args])
    if isinstance(expr, sp.Or):
        return z3.Or(*[conv(a) for a in expr.args])
    if isinstance(expr, sp.Not):
        return z3.Not(conv(expr.args[0]))
    raise ValueError(f"cannot translate {expr!r} ({type(expr).__name__}) to Z3")
