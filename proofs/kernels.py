"""The kernels' index arithmetic, proved: fixed-divisor division and window ranges.

The device helpers every kernel starts with (:data:`nnbridge.kernels.device.DEVICE_HELPERS`,
literal CUDA C) are modelled here line by line, each model line next to the C line it reads
(:data:`MODELLED_LINES` lists them; a test finds each one, verbatim, in the CUDA text, and
another runs the compiled helpers against the model's ``int`` reading). The model is written
over C's own definitions of its integer types, read as Python ``int`` or Z3 ``Int`` terms:

* unsigned arithmetic and conversion to an unsigned type wrap: the value modulo ``2**w``
  (``w = 32`` for ``unsigned int``, ``64`` for ``unsigned long long``);
* ``E1 << E2`` on an unsigned ``E1`` is ``E1 * 2**E2`` modulo ``2**w``, ``E1 >> E2`` the
  integral part of ``E1 / 2**E2`` (both need ``E2 < w``, proved for every shift below);
* conversion of an unsigned value to ``int`` is two's complement, modulo ``2**32`` into
  ``-2**31 .. 2**31 - 1`` (C++20's rule, and nvcc's);
* signed ``int`` arithmetic is exact, and overflow is undefined behaviour: each signed result
  is recorded in :class:`Checks`, and the obligations prove that it fits.

Why integers and not bit-vectors: Z3's bit-vector solver does not decide the multiply-high
identity (``umulhi(n, m) >> s == n / d`` over 32-bit ``n``) within 20 s even for the single
divisor ``d = 3``; over integers, with the wrap-arounds written as ``mod 2**w``, it takes
milliseconds. The loop that picks ``l = ceil(log2 d)`` has no product, and is proved on
bit-vectors of C's widths (``v.d`` zero-extended to 64 bits against ``1ull << l``).

The proofs are modular. :func:`divisor_loop_bv` shows the loop ends with
``2**(l-1) < d <= 2**l``, ``l <= 31``. The division theorem is then proved for every
``L = 2**l`` with that property (powers of two or not), as a chain of lemmas: no wrap-around
where the code assumes none, the multiplier in ``2**31 .. 2**32 - 1``, the quotient, the
remainder, no signed overflow. The window range and the index split then use the proved
contract of ``nnb_div``/``nnb_divmod`` (``n / d`` and ``n % d`` for ``0 <= n < 2**31``), and
prove that every call meets it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3
from nnbridge.spec.arith import reading_for

from .engine import Proof, Refutation, obligation

__all__ = [
    "DIVISORS",
    "INT_MAX",
    "MODELLED_LINES",
    "Checks",
    "Divisor",
    "ceil_log2_loop",
    "chained",
    "divisor_loop_bv",
    "make_divisor",
    "nnb_div",
    "nnb_divmod",
    "proved_divmod",
    "signed",
    "umulhi",
    "unravel",
    "unsigned",
    "window_range",
]

INT_MAX = 2**31 - 1

#: The CUDA lines the model below transcribes, verbatim (whitespace aside).
MODELLED_LINES = (
    "v.d = (unsigned int)d;",
    "while ((1ull << l) < v.d) ++l;",
    "v.m = (unsigned int)(((1ull << (31 + l)) + v.d - 1) / v.d);",
    "v.s = l - 1;",
    "return v.d == 1 ? n : (int)(__umulhi((unsigned int)n, v.m) >> v.s);",
    "*rem = n - q * (int)v.d;",
    "return (unsigned int)(((unsigned long long)a * b) >> 32);",
    "if (idx <= 0x7fffffffLL) return nnb_divmod((int)idx, volume, at);",
    "const long long q = idx / volume.d;",
    "*at = (int)(idx - q * volume.d);",
    "*z = nnb_divmod(nnb_divmod(*at, c.w, x), c.h, y);",
    "const int top = i + p;",
    "const int bottom = top - k + 1;",
    "*hi = nnb_div(top, s);",
    "if (*hi > n_out - 1) *hi = n_out - 1;",
    "*lo = bottom <= 0 ? 0 : nnb_div(bottom + (int)s.d - 1, s);",
)


# --------------------------------------------------------------------------------------
# C's integer types, read as int or Z3 Int
# --------------------------------------------------------------------------------------
def unsigned(x, bits: int = 32):
    """Conversion to (and arithmetic in) an unsigned type of ``bits`` bits: ``x mod 2**bits``."""
    return x % 2**bits


def signed(x):
    """Conversion to ``int`` (32 bits): two's complement, ``x`` modulo ``2**32`` into
    ``-2**31 .. 2**31 - 1``."""
    return (x + 2**31) % 2**32 - 2**31


def _floor_div(a, b):
    return reading_for(a, b).floor_div(a, b)


def _ite(cond, a, b):
    return reading_for(cond, a, b).ite(cond, a, b)


def _implies(when, cond):
    if isinstance(when, bool) and isinstance(cond, bool):
        return (not when) or cond
    return z3.Implies(when, cond)


def _between(value, low: int, high: int):
    if isinstance(value, int):
        return low <= value <= high
    return z3.And(value >= low, value <= high)


class Checks:
    """The conditions under which the modelled C is defined and keeps its contracts.

    ``fits(what, value)`` records that a signed ``int`` result lies in ``int``'s range
    (signed overflow is undefined behaviour); ``require(what, cond, when)`` any other
    condition, such as ``nnb_div``'s ``0 <= n < 2**31``. ``when`` guards a condition on
    a branch the C code only evaluates sometimes. The int reading records ``bool`` s, a
    symbolic one Z3 booleans; :attr:`conditions` maps each description to its condition.
    """

    def __init__(self):
        self.conditions: dict[str, Any] = {}

    def require(self, what: str, cond, when=True) -> None:
        key, i = what, 2
        while key in self.conditions:
            key, i = f"{what} #{i}", i + 1
        self.conditions[key] = cond if when is True else _implies(when, cond)

    def fits(self, what: str, value, when=True, bits: int = 32):
        """``value``, recording that it fits the signed type of ``bits`` bits (``int`` or
        ``long long``)."""
        kind = "int" if bits == 32 else "long long"
        self.require(f"{what} fits in {kind}",
                     _between(value, -2**(bits - 1), 2**(bits - 1) - 1), when)
        return value


# --------------------------------------------------------------------------------------
# nnb_divisor: division by a fixed divisor
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Divisor:
    """``nnb_divisor``: ``d`` and ``m`` as stored, the shift ``s`` as the power ``2**s``
    it divides by (``x >> s`` is ``x / 2**s``).

    ``numerator`` and ``wide_m`` are what :func:`make_divisor` computed on the way, in
    ``unsigned long long``: ``(1ull << (31 + l)) + v.d - 1`` and its quotient by ``v.d``,
    before the cast to ``unsigned int``. A divisor used by its proved contract alone has
    only ``d``.
    """

    d: Any
    m: Any = None
    shift: Any = None
    numerator: Any = None
    wide_m: Any = None


def ceil_log2_loop(d: int) -> int:
    """``l`` of ``nnb_make_divisor``, the loop run as written:
    ``while ((1ull << l) < v.d) ++l;`` (for an ``int`` ``d >= 1``)."""
    log = 0
    while (1 << log) < unsigned(d):
        log += 1
    return log


def divisor_loop_bv(vd: z3.BitVecRef, tests: int = 33) -> z3.BitVecRef:
    """The loop's final ``l`` (an ``unsigned int``) for a 32-bit ``v.d``, unrolled.

    The ``i``-th test sees ``l == i`` (the body only increments), so it compares the
    64-bit constant ``1ull << i`` with ``v.d`` zero-extended to 64 bits; ``l`` is the first
    ``i`` whose test fails. ``tests`` (the sentinel ``l``) stands for "still looping
    after that many tests"; the obligation proves it never happens.
    """
    wide = z3.ZeroExt(32, vd)
    log = z3.BitVecVal(tests, 32)
    for i in reversed(range(tests)):
        log = z3.If(z3.ULT(z3.BitVecVal(1 << i, 64), wide), log, z3.BitVecVal(i, 32))
    return log


def umulhi(a, b):
    """``__umulhi`` (as the host prelude defines it):
    ``(unsigned int)(((unsigned long long)a * b) >> 32)``."""
    return unsigned(_floor_div(unsigned(a * b, 64), 2**32))


def make_divisor(d, two_l) -> Divisor:
    """``nnb_make_divisor(d)``, its loop done: ``two_l`` is ``1ull << l``.

    ``1ull << (31 + l)`` is ``2**31 * two_l`` modulo ``2**64``, and ``>> v.s`` with
    ``v.s = l - 1`` divides by ``two_l / 2``.
    """
    vd = unsigned(d)  # v.d = (unsigned int)d;
    # v.m = (unsigned int)(((1ull << (31 + l)) + v.d - 1) / v.d);
    numerator = unsigned(unsigned(unsigned(2**31 * two_l, 64) + vd, 64) - 1, 64)
    wide_m = _floor_div(numerator, vd)
    shift = _floor_div(two_l, 2)  # v.s = l - 1;
    one = vd == 1  # if (v.d == 1) { v.m = 0; v.s = 0; }
    return Divisor(vd, _ite(one, 0, unsigned(wide_m)), _ite(one, 1, shift), numerator, wide_m)


def nnb_div(n, v: Divisor):
    """``return v.d == 1 ? n : (int)(__umulhi((unsigned int)n, v.m) >> v.s);``"""
    return _ite(v.d == 1, n, signed(_floor_div(umulhi(unsigned(n), v.m), v.shift)))


def nnb_divmod(n, v: Divisor, checks: Checks, when=True):
    """``(q, rem)`` of ``nnb_divmod``: ``q = nnb_div(n, v); *rem = n - q * (int)v.d;``
    (``when``: the condition under which the C code makes this call)."""
    q = nnb_div(n, v)
    product = checks.fits("q * (int)v.d", q * signed(v.d), when)
    return q, checks.fits("n - q * (int)v.d", n - product, when)


def proved_divmod(n, v: Divisor, checks: Checks, when=True):
    """``nnb_divmod`` by its proved contract (:func:`kernels_fast_division`):
    ``(n / d, n % d)``, with ``0 <= n < 2**31`` required."""
    checks.require("nnb_div argument in 0..2**31-1", _between(n, 0, INT_MAX), when)
    q = _floor_div(n, v.d)
    return q, n - q * v.d


def window_range(i, k, s: Divisor, p, n_out, checks: Checks,
                 divmod_: Callable = nnb_divmod):
    """``(lo, hi)`` of ``nnb_window_range(i, k, s, p, n_out, &lo, &hi)``.

    ``divmod_`` stands for ``nnb_div`` (:func:`nnb_divmod`, the model, or
    :func:`proved_divmod`, its contract); the windows ``o`` that contain input position
    ``i`` should be exactly ``lo..hi``.
    """
    def div(x, when=True):
        return divmod_(x, s, checks, when)[0]

    top = checks.fits("i + p", i + p)  # const int top = i + p;
    bottom = checks.fits("top - k + 1", checks.fits("top - k", top - k) + 1)
    hi = div(top)  # *hi = nnb_div(top, s);
    last = checks.fits("n_out - 1", n_out - 1)
    hi = _ite(hi > last, last, hi)  # if (*hi > n_out - 1) *hi = n_out - 1;
    # *lo = bottom <= 0 ? 0 : nnb_div(bottom + (int)s.d - 1, s);
    inside = bottom > 0
    up = checks.fits("bottom + (int)s.d - 1",
                     checks.fits("bottom + (int)s.d", bottom + signed(s.d), inside) - 1, inside)
    lo = _ite(inside, div(up, inside), 0)
    return lo, hi


def unravel(idx, volume: Divisor, h: Divisor, w: Divisor, checks: Checks,
            divmod_: Callable = nnb_divmod):
    """``(plane, at, z, y, x)`` of ``nnb_unravel`` with the divisors of ``nnb_cells``.

    ``nnb_split``: ``if (idx <= 0x7fffffffLL) return nnb_divmod((int)idx, volume, at);``
    else ``q = idx / volume.d`` in ``long long`` (``volume.d`` converts to ``long long``;
    ``idx >= 0``, so C's truncating division is the floor) and
    ``*at = (int)(idx - q * volume.d)``; then
    ``*z = nnb_divmod(nnb_divmod(*at, c.w, x), c.h, y)``.
    """
    fast = idx <= INT_MAX
    fast_plane, fast_at = divmod_(idx, volume, checks, fast)
    slow = not fast if isinstance(fast, bool) else z3.Not(fast)
    slow_plane = _floor_div(idx, volume.d)
    product = checks.fits("q * volume.d", slow_plane * volume.d, slow, bits=64)
    slow_at = signed(checks.fits("idx - q * volume.d", idx - product, slow, bits=64))
    plane = _ite(fast, fast_plane, slow_plane)
    at = _ite(fast, fast_at, slow_at)
    t, x = divmod_(at, w, checks)
    z, y = divmod_(t, h, checks)
    return plane, at, z, y, x


def chained(lemmas: dict) -> dict:
    """Parts for :class:`~nnbridge.proofs.engine.Proof` that prove ``lemmas`` in order:
    each part assumes the ones before it (so together they prove every lemma)."""
    parts, before = {}, []
    for name, lemma in lemmas.items():
        parts[name] = z3.Implies(z3.And(*before), lemma) if before else lemma
        before.append(lemma)
    return parts


# --------------------------------------------------------------------------------------
# Obligations
# --------------------------------------------------------------------------------------
def _loop_facts(d, two_l) -> list:
    """What the loop leaves (proved by :func:`kernels_divisor_loop`): ``L = 1ull << l``
    with ``L / 2 < d <= L`` and ``L`` even for ``d >= 2``, ``L = 1`` for ``d = 1``."""
    rest = z3.And(d >= 2, two_l >= 2, two_l % 2 == 0, two_l / 2 < d, d <= two_l)
    return [z3.Or(z3.And(d == 1, two_l == 1), rest)]


def _division_domain():
    d, n, two_l = z3.Ints("d n L")
    return (d, n, two_l), [d >= 1, d <= INT_MAX, n >= 0, n <= INT_MAX]


@obligation("kernels")
def kernels_divisor_loop():
    """nnb_make_divisor's loop `while ((1ull << l) < v.d) ++l;` on bit-vectors of C's
    widths (v.d a 32-bit unsigned, zero-extended to 64 bits): for every d in 1..2**31-1 it
    stops with l <= 31 (so 1ull << (31 + l) and >> (l - 1) shift by less than the width),
    L = 1ull << l >= d, and l = 0 exactly when d = 1, else L / 2 < d and L even."""
    d = z3.BitVec("d", 32)
    log = divisor_loop_bv(d)
    big = z3.BitVecVal(1, 64) << z3.ZeroExt(32, log)
    wide = z3.ZeroExt(32, d)
    half = z3.LShR(big, 1)
    return Proof([d], [z3.UGE(d, 1), z3.ULE(d, INT_MAX)], subjects=[log], claim={
        "stops with l <= 31": z3.ULE(log, 31),
        "L >= d": z3.UGE(big, wide),
        "l = 0 iff d = 1": (log == 0) == (d == 1),
        "L / 2 < d, L even": z3.Or(d == 1, z3.And(z3.ULT(half, wide), big == half * 2)),
    })


def _division_lemmas(d, n, two_l, v: Divisor) -> dict:
    """Granlund and Montgomery's argument, one step per lemma, on the model's terms.

    With ``P = L / 2`` (``v.s`` shifts by ``P``), ``m = ceil(2**32 P / d)``, ``q0 = n / d``
    and ``e = d m - 2**32 P`` (the rounding excess, ``0 <= e < d``):
    ``n m = q0 2**32 P + (q0 e + (n % d) m)``, and the error term stays in ``0..2**32 P - 1``
    because ``n < 2**31`` and ``e < d <= 2P``; so ``floor(n m / 2**32 P) = q0``, which is
    ``umulhi(n, m) >> s`` (a floor of a floor).
    """
    checks = Checks()
    q, rem = nnb_divmod(n, v, checks)
    p, m, q0 = _floor_div(two_l, 2), v.m, n / d
    excess = d * m - 2**32 * p
    error = q0 * excess + (n % d) * m
    high = umulhi(unsigned(n), m)
    big = d >= 2
    lemmas = {
        "(1ull << (31 + l)) + v.d - 1 does not wrap": v.numerator == 2**31 * two_l + d - 1,
        "m fits unsigned int: 2**31 <= m < 2**32": z3.Implies(big, z3.And(
            v.wide_m >= 2**31, v.wide_m < 2**32, m == v.wide_m)),
        "umulhi(n, m) = floor(n m / 2**32), n * m does not wrap": z3.And(
            unsigned(n * m, 64) == n * m, high == n * m / 2**32),
        "the excess e = d m - 2**32 P is in 0..d-1": z3.Implies(big, z3.And(
            excess >= 0, excess < d)),
        "n m = q0 2**32 P + (q0 e + (n % d) m)": n * m == q0 * 2**32 * p + error,
        "the error q0 e + (n % d) m is in 0..2**32 P - 1": z3.Implies(big, z3.And(
            error >= 0, error < 2**32 * p)),
        "floor(n m / 2**32 P) = n / d": z3.Implies(big, n * m / (2**32 * p) == q0),
        "umulhi(n, m) >> s = floor(n m / 2**32 P)": z3.Implies(big, high / p ==
                                                               n * m / (2**32 * p)),
        "nnb_div(n) == n / d": q == q0,
        "(int)v.d == d": signed(v.d) == d,
        "rem == n % d": rem == n % d,
    }
    lemmas.update({f"no overflow: {k}": c for k, c in checks.conditions.items()})
    return lemmas


@obligation("kernels")
def kernels_fast_division():
    """For every divisor d in 1..2**31-1 and every n in 0..2**31-1, with L = 1ull << l
    as the loop leaves it (kernels_divisor_loop; proved for every L with L / 2 < d <= L,
    L even): nnb_div(n, nnb_make_divisor(d)) == n / d and nnb_divmod's remainder == n % d,
    in C's types with every wrap-around modelled: the 64-bit numerator does not wrap, the
    multiplier m lies in 2**31..2**32-1 (the cast to unsigned int keeps it), n * m does not
    wrap, and the signed products and differences fit in int. Granlund and Montgomery's
    argument as a chain of lemmas (the excess e = d m - 2**31 L is in 0..d-1, the error
    term of n m stays below 2**31 L, the floors compose), each one solver call assuming
    the ones before."""
    (d, n, two_l), domain = _division_domain()
    v = make_divisor(d, two_l)
    return Proof([d, n, two_l], domain + _loop_facts(d, two_l),
                 chained(_division_lemmas(d, n, two_l, v)))


#: Divisors the concrete proofs cover: every small stride and size, the powers of two and
#: their neighbours (where l changes), sizes UNets use, and the largest int.
DIVISORS = tuple(sorted(
    set(range(1, 18))
    | {2**k + e for k in (5, 8, 12, 16, 20, 24, 28, 30) for e in (-1, 0, 1)}
    | {100, 188, 224, 388, 572, 1000, 46341, 10**6, 10**9, INT_MAX}))


@obligation("kernels")
def kernels_fast_division_per_divisor():
    """For each divisor d of a representative set (1..17; 2**k - 1, 2**k, 2**k + 1 for
    k = 5, 8, 12, 16, 20, 24, 28, 30; sizes UNets use; 2**31 - 1), l and m computed by
    the model of nnb_make_divisor on ints (the compiled helper gives the same), and every
    n in 0..2**31-1: nnb_div(n) == n / d and the remainder == n % d, one solver call per
    divisor. A cross-reading of kernels_fast_division with the loop run, not assumed."""
    n = z3.Int("n")
    parts = {}
    for d in DIVISORS:
        v = make_divisor(d, 1 << ceil_log2_loop(d))
        checks = Checks()
        q, rem = nnb_divmod(n, v, checks)
        parts[f"d={d}"] = z3.And(q == n / d, rem == n % d, *checks.conditions.values())
    return Proof([n], [n >= 0, n <= INT_MAX], parts)


def _defective(d: int, transform: Callable[[Divisor], Divisor], loop: Callable[[int], int],
               least: int) -> Refutation:
    """``nnb_div(n) == n / d`` for all ``n`` with a defective divisor: refuted, least ``n``."""
    n = z3.Int("n")
    v = transform(make_divisor(d, 1 << loop(d)))

    def confirm(values):
        got = nnb_div(values["n"], v)
        return None if got == values["n"] // d else \
            f"nnb_div({values['n']}) = {got} with m = {v.m}, but {values['n']} // {d} = " \
            f"{values['n'] // d}"

    return Refutation([n], [n >= 0, n <= INT_MAX], nnb_div(n, v) == n / d, confirm,
                      expect={"n": least})


def _le_loop(d: int) -> int:
    """The loop written with ``<=``: ``while ((1ull << l) <= v.d) ++l;`` (a planted defect)."""
    log = 0
    while (1 << log) <= d:
        log += 1
    return log


@obligation("kernels")
def kernels_magic_rounded_down_refuted():
    """Refuted (a planted rounding defect): with the multiplier one less, m - 1 =
    floor(2**33 / 3) instead of ceil, nnb_div still divides by d = 3 exactly for every n in
    0..2**31-1. Z3's least counterexample is n = 3: umulhi(3, m - 1) >> 1 = 0, not 1."""
    def rounded_down(v: Divisor) -> Divisor:
        return Divisor(v.d, v.m - 1, v.shift)

    return _defective(3, rounded_down, ceil_log2_loop, 3)


@obligation("kernels")
def kernels_loop_with_le_wraps_refuted():
    """Refuted (a planted defect): with the loop written `while ((1ull << l) <= v.d) ++l;`
    nnb_div still divides by d = 1024 exactly. The loop then takes l = 11, one too many for
    a power of two, so m = 2**(31 + 11) / 1024 = 2**32 wraps to 0 in the cast to unsigned
    int: the least counterexample is n = 1024 (nnb_div gives 0)."""
    return _defective(1024, lambda v: v, _le_loop, 1024)


def _window_domain():
    names = "i k s p n_out o"
    i, k, s, p, n_out, o = z3.Ints(names)
    # _check_int of kernels/geometry.py: in + 2p + s <= INT_MAX on every axis, with i < in
    domain = [i >= 0, k >= 1, k <= INT_MAX, s >= 1, s <= INT_MAX, p >= 0, n_out >= 0,
              n_out <= INT_MAX, i + p + s <= INT_MAX]
    return (i, k, s, p, n_out, o), domain


@obligation("kernels")
def kernels_window_range():
    """nnb_window_range(i, k, s, p, n_out) gives exactly the windows that contain input
    position i: for all i >= 0, k, s >= 1, p >= 0, 0 <= n_out < 2**31 with
    i + p + s <= 2**31 - 1 (what kernels/geometry.py's _check_int guarantees) and every
    o: lo <= o <= hi iff 0 <= o < n_out and some tap a in 0..k-1 has o*s - p + a == i
    (the sliding-window formula). Proved in three parts, for every a: a tap that reads i
    is a = i + p - o*s (the index the gathers use), that tap reads i when it is in 0..k-1
    (the witness), and lo <= o <= hi iff 0 <= o < n_out and 0 <= i + p - o*s < k. nnb_div
    is used by its proved contract (kernels_fast_division), and every call meets it:
    0 <= argument < 2**31; no int overflows. No dilation: the kernels take none."""
    (i, k, s, p, n_out, o), domain = _window_domain()
    checks = Checks()
    lo, hi = window_range(i, k, Divisor(s), p, n_out, checks, proved_divmod)
    a = z3.Int("a")

    def reads(tap):  # tap `tap` of window o reads input position i
        return z3.And(tap >= 0, tap < k, o * s - p + tap == i)

    tap = i + p - o * s  # the gathers' own tap index: a = i + p - o*s
    parts = {
        "a tap of window o that reads i is i + p - o*s": z3.Implies(reads(a), a == tap),
        "i + p - o*s reads i when in 0..k-1": z3.Implies(z3.And(tap >= 0, tap < k), reads(tap)),
        "lo <= o <= hi iff 0 <= o < n_out and 0 <= i + p - o*s < k":
            z3.And(lo <= o, o <= hi) == z3.And(o >= 0, o < n_out, tap >= 0, tap < k),
    }
    parts.update({f"defined: {k_}": c for k_, c in checks.conditions.items()})
    return Proof([i, k, s, p, n_out, o, a], domain, parts)


@obligation("kernels")
def kernels_unravel():
    """nnb_unravel splits every flat index: for a cell volume V = D*H*W with D, H, W >= 1
    and V <= 2**31 - 1 (the geometry's bound) and every idx with 0 <= idx < 2**63 - 1 (the
    grid-stride loop runs below cells.total, a long long), it returns plane, at, z, y, x
    with idx = plane*V + at, at = (z*H + y)*W + x, 0 <= z < D, 0 <= y < H, 0 <= x < W, on
    both paths of nnb_split (int below 2**31, long long above), with no overflow; each
    nnb_divmod call meets its proved contract (0 <= n < 2**31). The hypotheses are linear
    (V a variable); V = D*H*W is the antecedent of every part."""
    idx, volume, depth, h, w = z3.Ints("idx V D H W")
    domain = [depth >= 1, h >= 1, w >= 1, volume >= 1, volume <= INT_MAX, idx >= 0,
              idx < 2**63 - 1]
    checks = Checks()
    plane, at, z, y, x = unravel(idx, Divisor(volume), Divisor(h), Divisor(w), checks,
                                 proved_divmod)
    lemmas = {f"defined: {k}": c for k, c in checks.conditions.items()}
    lemmas.update({
        "0 <= at < V": z3.And(at >= 0, at < volume),
        "idx = plane*V + at": idx == plane * volume + at,
        "0 <= x < W, 0 <= y < H": z3.And(x >= 0, x < w, y >= 0, y < h),
        "0 <= z < D": z3.And(z >= 0, z < depth),
        "at = (z*H + y)*W + x": at == (z * h + y) * w + x,
    })
    cells = volume == depth * h * w
    parts = {k: z3.Implies(cells, c) for k, c in chained(lemmas).items()}
    return Proof([idx, volume, depth, h, w], domain, parts)
