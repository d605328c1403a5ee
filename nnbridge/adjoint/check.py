"""The checks: the adjoint identity ``<A u, v> = <u, A^T v>`` and the JVP against finite
differences, reported as figures (mode, trials, worst residual, tolerance, verdict).

Why both: the adjoint identity ties a VJP to its JVP, so it catches a backward rule that
is not the adjoint of the forward derivative (a shifted padding, a missing kernel flip, a
wrong divisor). It cannot catch a mistake that the JVP and the VJP share (TorchLean's max-pool
argmax fold): both sides are then wrong together. :func:`check_jvp` compares the JVP with
central finite differences of the forward, which catches exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from .registry import Case, Entry
from .sampling import Sampler

__all__ = ["CheckResult", "check_adjoint", "check_jvp", "inner"]

#: Central-difference step for :func:`check_jvp` (float64, tangent scaled to max-norm 1):
#: truncation error ~ h**2 * |f'''| / 6 ~ 1e-10, rounding ~ eps * |f| / h ~ 1e-11 * |f|.
FD_STEP = 1e-5


@dataclass(frozen=True)
class CheckResult:
    """Figures of one check.

    ``worst_residual`` is the largest residual over the trials, in the units of
    ``tolerance``: exact mode gives ``|<Au, v> - <u, A^T v>|`` (must be 0.0); float mode gives
    ``|<Au, v> - <u, A^T v>| / (||Au|| ||v||)`` against ``float_factor * eps``; ``jvp``
    mode gives ``max|fd - jvp| / max(1, max|jvp|)``.

    ``applicable`` is False for a check that does not apply to the map (exact mode on a
    function that exponentiates, say); it then counts as passed and ``detail`` says why.
    """

    name: str
    check: str
    mode: str
    trials: int
    worst_residual: float
    tolerance: float
    passed: bool
    detail: str = ""
    applicable: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def _tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def inner(a, b) -> float:
    """``<a, b>`` over (tuples of) arrays, accumulated in float64."""
    a, b = _tuple(a), _tuple(b)
    if len(a) != len(b):
        raise ValueError(f"inner product of {len(a)} arrays with {len(b)} arrays")
    total = 0.0
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            raise ValueError(f"inner product of shapes {x.shape} and {y.shape}")
        total += float(np.dot(x.ravel().astype(np.float64), y.ravel().astype(np.float64)))
    return total


def _norm(a) -> float:
    return math.sqrt(sum(float(np.sum(np.asarray(x, dtype=np.float64) ** 2)) for x in _tuple(a)))


def _as_entry(item: Entry | Callable, name: str | None) -> Entry:
    if isinstance(item, Entry):
        return item
    return Entry(name or getattr(item, "__name__", "map"), item)


def _shape_check(entry: Entry, case: Case, cotangent) -> None:
    got = _tuple(cotangent)
    if len(got) != len(case.primal) or any(
            np.shape(g) != np.shape(p) for g, p in zip(got, case.primal, strict=False)):
        raise ValueError(
            f"{entry.name}: the VJP returned shapes {[np.shape(g) for g in got]}, the point has "
            f"{[np.shape(p) for p in case.primal]}")


def check_adjoint(item: Entry | Callable, mode: str = "exact", trials: int | None = None,
                  seed: int = 0, *, name: str | None = None) -> CheckResult:
    """Check ``<A u, v> = <u, A^T v>`` for ``u``, ``v`` drawn at random.

    ``A`` is the case's JVP (the map, or the linearisation of a nonlinear op at the sampled
    point) and ``A^T`` its VJP.

    Parameters
    ----------
    item : Entry, or a builder ``Sampler -> Case``
    mode : ``"exact"``, ``"float32"`` or ``"float64"``
    trials : number of independent draws (point, ``u`` and ``v``); default the entry's
    seed : first trial's seed (trial ``t`` uses ``seed + t``)

    Notes
    -----
    Exact mode: float64 operands with small integer values. Every product and partial sum the
    map, its adjoint and both inner products form is then an integer (or a dyadic fraction,
    for divisions by powers of two) of magnitude far below 2**53, hence representable; each
    floating-point operation returns its exact result, so summation order cannot matter and
    the two sides must be bit-equal: the tolerance is 0, and ANY difference is a defect.

    Float mode: ``|<Au, v> - <u, A^T v>| <= float_factor * eps * ||Au|| * ||v||``, with
    ``eps`` the dtype's machine epsilon. The scale is ``||Au|| ||v||`` (Cauchy-Schwarz bounds
    ``|<Au, v>|`` by it), not the inner product itself, which can be near zero.
    """
    entry = _as_entry(item, name)
    if mode not in ("exact", "float32", "float64"):
        raise ValueError(f"check_adjoint: mode must be 'exact', 'float32' or 'float64', got "
                         f"{mode!r}")
    if mode == "exact" and not entry.exact:
        raise ValueError(f"{entry.name}: not exact (it divides or exponentiates); use a float "
                         "mode")
    trials = entry.trials if trials is None else trials
    eps = float(np.finfo(np.float32 if mode == "float32" else np.float64).eps)
    tolerance = 0.0 if mode == "exact" else entry.float_factor * eps
    worst, detail = 0.0, ""
    for t in range(trials):
        s = Sampler(mode, seed + t)
        case = entry.build(s)
        u = tuple(s.array(np.shape(p)) for p in case.primal)
        au = case.jvp(*u)
        v = tuple(s.array(np.shape(a)) for a in _tuple(au))
        atv = case.vjp(v if isinstance(au, (tuple, list)) else v[0])
        _shape_check(entry, case, atv)
        lhs, rhs = inner(au, v), inner(u, atv)
        if mode == "exact":
            residual = abs(lhs - rhs)
        else:
            scale = _norm(au) * _norm(v)
            residual = abs(lhs - rhs) / scale if scale > 0 else abs(lhs - rhs)
        if not math.isfinite(residual):
            residual = math.inf
        if residual > worst or (t == 0 and not detail):
            worst = max(worst, residual)
            detail = f"trial {t}: <Au, v> = {lhs!r}, <u, A^T v> = {rhs!r}"
    passed = worst == 0.0 if mode == "exact" else worst <= tolerance
    return CheckResult(entry.name, "adjoint", mode, trials, worst, tolerance, passed, detail)


def _unit_tangent(s: Sampler, primal) -> tuple:
    u = tuple(s.array(np.shape(p)) for p in primal)
    top = max((float(np.max(np.abs(x))) for x in u if np.size(x)), default=0.0)
    return tuple(x / top for x in u) if top > 0 else u


def check_jvp(item: Entry | Callable, trials: int | None = None, seed: int = 0, *,
              name: str | None = None, step: float = FD_STEP) -> CheckResult:
    """Check the JVP against central differences: ``(f(x + h u) - f(x - h u)) / 2h``.

    float64 throughout; the point is drawn by the entry's builder through the sampler's
    ``unique``/``away_from_zero`` draws, so no tie or kink lies within ``h`` of it, where the
    map is smooth and the central difference converges to the true derivative.

    The residual is ``max|fd - jvp| / max(1, max|jvp|)``; it must stay within the entry's
    ``fd_tolerance`` (default ``1e-6``, far above the ~1e-10 error of the difference
    quotient and far below the O(1) error of a wrong derivative).
    """
    entry = _as_entry(item, name)
    trials = entry.trials if trials is None else trials
    worst, detail = 0.0, ""
    for t in range(trials):
        s = Sampler("fd", seed + t)
        case = entry.build(s)
        if case.forward is None:
            raise ValueError(f"{entry.name}: no forward to difference")
        u = _unit_tangent(s, case.primal)
        plus = case.forward(*(p + step * d for p, d in zip(case.primal, u, strict=True)))
        minus = case.forward(*(p - step * d for p, d in zip(case.primal, u, strict=True)))
        fd = tuple((a - b) / (2 * step) for a, b in zip(_tuple(plus), _tuple(minus), strict=True))
        jvp = _tuple(case.jvp(*u))
        err = max(float(np.max(np.abs(a - b))) if np.size(a) else 0.0
                  for a, b in zip(fd, jvp, strict=True))
        scale = max(1.0, max(float(np.max(np.abs(b))) if np.size(b) else 0.0 for b in jvp))
        residual = err / scale if math.isfinite(err) else math.inf
        if residual > worst or (t == 0 and not detail):
            worst = max(worst, residual)
            detail = f"trial {t}: max|fd - jvp| = {err:.3e}, max|jvp| = {scale:.3e}"
    return CheckResult(entry.name, "jvp", "fd", trials, worst, entry.fd_tolerance,
                       worst <= entry.fd_tolerance, detail)
