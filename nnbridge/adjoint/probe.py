"""The checks on a user's code, ``<J u, v> = <u, J^T v>`` and ``J u`` against central
differences, run over any :class:`Target` (a PyTorch callable, a NumPy forward with its VJP).

``J u`` comes from forward-mode AD where the target has it, else from central differences;
``J^T v`` always comes from the target's own backward. The checks, per mode:

``backward`` (mode ``contract``)
    The backward runs, returns one gradient per input with the input's shape and dtype and
    finite values, and gives the same result when the cotangent or the inputs are laid out
    non-contiguously (same values, other strides). It is the first float trial's backward,
    audited on the way (float32 where that mode runs).
``adjoint`` (modes ``exact``, ``float32``, ``float64``)
    The adjoint identity at a random point, for random ``u`` and ``v``: bit-equal in exact
    mode, within the norm-scaled tolerance below in the float modes.
``jvp`` (mode ``fd``)
    Forward-mode ``J u`` against Richardson-extrapolated central differences at a point away
    from kinks and ties. With no forward mode, ``J u`` is itself a central difference and
    the float adjoint checks already compare the backward with it: the check does not apply.

Every trial draws a point with ``|x| >= 0.1`` (off ReLU's kink at 0; exact mode: non-zero
integers), ``u`` and ``v`` standard normal (exact mode: integers in [-3, 3]); the float32
and float64 modes share the trial's point and ``u`` (float32 values, exact in float64), so
one central difference serves both. Odd trials pass the inputs and the cotangent laid out
non-contiguously. Trial ``t`` of a mode draws from ``(seed, mode, t)`` alone.

Notes
-----
Float tolerance (``float32``, ``float64``)::

    |<J u, v> - <u, J^T v>| <= c * eps * (||J u|| ||v|| + ||u|| ||J^T v||) + s * sum_i |e_i v_i|

with ``eps`` the mode's machine epsilon, ``c`` = :data:`FLOAT_FACTOR` (64) and ``e`` the
error bound of a finite-difference ``J u`` (0 under forward-mode AD), ``s`` =
:data:`FD_SAFETY`. Both products of norms bound their inner product (Cauchy-Schwarz), so the
tolerance scales with the figures being compared, never with an inner product that happens
to be near zero. The figures reported are relative: residual and tolerance divided by
``||J u|| ||v|| + ||u|| ||J^T v||``.

Central differences (float64, ``u`` scaled to max-norm 1, ``h`` = :data:`FD_STEP` *
``max(1, max|x|)``): ``D(h) = (f(x + h u) - f(x - h u)) / 2h``; ``J u ~ (4 D(h/2) - D(h)) / 3``
(Richardson, error O(h^4)); ``e = |D(h) - D(h/2)| / 3 + 16 eps max|f(x +- h u), f(x +- h/2
u)| / h`` bounds it, elementwise (the first term is the error of ``D(h/2)``, larger than the
extrapolation's; the second the rounding of the four values differenced). Where
``max|D(h) - D(h/2)|`` exceeds :data:`SMOOTH_LIMIT` times ``max|J u|``, a kink or tie lies
within ``h`` of the point: the point is drawn again, up to :data:`FD_REDRAWS` times, then the
check fails as unable to conclude.

Exact mode: float64 operands with small non-zero integer values (``u``, ``v``: integers in
[-3, 3]). It applies where the forward's values and ``J u`` are multiples of ``2**-8`` below
``2**24`` (no division by 3, no exp): every product and sum is then exact, so the two inner
products must be bit-equal. Without forward mode, ``J u`` is the central difference at the
dyadic step ``h = 2**-6``; it is exact for a function that is quadratic along ``u`` on
``[x - h u, x + h u]`` (linear, bilinear, piecewise linear away from a kink), which the check
verifies exactly: ``D(h) = D(h/2)`` and the second differences scale by 4. Where they do not
(a kink at an integer point, a cubic), exact mode does not apply and the report says why.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nnbridge.spec.errors import NNBridgeError, Rule, UsageError

from .check import CheckResult
from .runner import crashed
from .sampling import Sampler

__all__ = [
    "FD_STEP",
    "FLOAT_FACTOR",
    "MAX_ELEMENTS",
    "MAX_SEED",
    "MAX_TRIALS",
    "MODES",
    "AdjointReport",
    "Linearization",
    "NotSmooth",
    "Target",
    "options",
    "results_table",
    "run_checks",
]

#: The checks ``modes=`` chooses from (the ``backward`` contract check always runs).
MODES = ("exact", "float32", "float64", "fd")
#: Multiple of machine epsilon in the float tolerance (``c`` in the module's Notes).
FLOAT_FACTOR = 64.0
#: Multiple of the finite-difference error bound in the float tolerance (``s``).
FD_SAFETY = 10.0
#: Central-difference step in float64, relative to ``max(1, max|x|)``.
FD_STEP = 1e-4
#: ``max|D(h) - D(h/2)|`` above this fraction of ``max|J u|``: a kink within ``h``.
SMOOTH_LIMIT = 1e-4
#: Points drawn per trial before a finite-difference check gives up (kinks, ties).
FD_REDRAWS = 4
#: Exact mode's dyadic central-difference step.
EXACT_STEP = 2.0**-6
#: Exact mode applies to values that are multiples of ``2**-GRID_BITS`` ...
GRID_BITS = 8
#: ... of magnitude below this (so that products and sums stay exact in float64).
GRID_LIMIT = 2.0**24
#: The most trials per check, and the largest seed (trial ``t`` of a mode: seed, mode, t).
MAX_TRIALS = 1000
MAX_SEED = 2**32 - 1
#: The most elements the differentiable inputs (or the outputs) may have together.
MAX_ELEMENTS = 2**24

_MODE_INDEX = {"contract": 0, "exact": 1, "float32": 2, "fd": 4}


class NotSmooth(Exception):
    """Central differences did not converge at the drawn point (a kink or tie within h)."""


@dataclass(frozen=True)
class Linearization:
    """The target run forward at a point: its floating outputs (float64 copies) and its
    backward, ``pullback(cotangents, strided) -> gradients`` (one float64 array per
    differentiable input; ``strided`` lays the cotangents out non-contiguously).

    ``audit(cotangents) -> (gradients, worst, problems)`` runs the same backward once and
    checks its contract on the way (what it returns per input, its result for the same
    cotangents and inputs laid out non-contiguously); ``gradients`` is None when it raised.
    """

    outputs: list
    pullback: Callable[[list, bool], list]
    audit: Callable[[list], tuple] | None = None


class Target(Protocol):
    """What the checks need from the code under test; points are lists of arrays, one per
    differentiable input, in the mode's dtype."""

    name: str
    shapes: list
    jvp_source: str

    def linearize(self, point: list, dtype, strided: bool) -> Linearization: ...

    def evaluate(self, point: list) -> list: ...

    def forward_jvp(self, point: list, tangent: list, dtype) -> list | None: ...


@dataclass(frozen=True)
class AdjointReport:
    """The figures of :func:`~nnbridge.adjoint.check_torch` / ``check_numpy``: one
    :class:`CheckResult` per check (``passed`` on each), ``passed`` over all of them.

    ``jvp_source`` says where ``J u`` came from; ``directions`` counts the ``(u, v)`` pairs
    (and ``u`` alone for the ``fd`` check) the checks probed; ``seconds`` is per check.
    """

    name: str
    results: tuple
    seconds: tuple
    jvp_source: str
    directions: int
    total_seconds: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.passed]

    def timed(self) -> list:
        """``[(CheckResult, seconds), ...]``, as :func:`~nnbridge.adjoint.runner.run_entry`."""
        return list(zip(self.results, self.seconds, strict=True))

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "jvp_source": self.jvp_source,
                "directions": self.directions, "seconds": round(self.total_seconds, 6),
                "checks": [dict(r.as_dict(), seconds=round(t, 6)) for r, t in self.timed()]}

    def table(self) -> str:
        """The figures as plain text, one line per check (failures with their reason)."""
        head = (f"{self.name}: {'pass' if self.passed else 'FAIL'} "
                f"({self.directions} directions, {self.total_seconds:.3f}s; J u from "
                f"{self.jvp_source})")
        return results_table(head, self.results)

    def __str__(self) -> str:
        return self.table()


def results_table(head: str, results) -> str:
    """``head``, then one plain-text line per :class:`CheckResult`, then the details of
    those that failed or do not apply."""
    rows = [("check", "mode", "trials", "worst residual", "tolerance", "verdict")]
    for r in results:
        verdict = "n/a" if not r.applicable else "pass" if r.passed else "FAIL"
        rows.append((r.check, r.mode, str(r.trials), f"{r.worst_residual:.3g}",
                     f"{r.tolerance:.3g}", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                      .rstrip() for row in rows]
    lines += [f"  {r.check}[{r.mode}]: {r.detail}" for r in results
              if r.detail and (not r.passed or not r.applicable)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------
def _bounded(where: str, name: str, value, minimum: int, maximum: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: {name}",
                         detail=f"must be an integer, got {type(value).__name__}")
    value = int(value)
    if value > maximum:
        raise UsageError(Rule.WORK_LIMIT, name=f"{where}: {name}",
                         value=value if value.bit_length() < 128 else
                         f"an int of {value.bit_length()} bits", limit=maximum, detail=why)
    if value < minimum:
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: {name}",
                         detail=f"must be at least {minimum}, got {value}")
    return value


def options(where: str, modes, trials, seed, float_factor) -> tuple:
    """``(modes, trials, seed, float_factor)`` validated; bad values are a UsageError."""
    if modes is None:
        modes = MODES
    if isinstance(modes, str):
        modes = (modes,)
    try:
        modes = tuple(modes)
    except TypeError:
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: modes",
                         detail=f"a sequence of {', '.join(MODES)} is needed, got "
                                f"{type(modes).__name__}") from None
    bad = [m for m in modes if not isinstance(m, str) or m not in MODES]
    if bad or not modes:
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: modes",
                         detail=f"choose among {', '.join(MODES)}; got {list(modes)[:8]!r}")
    modes = tuple(m for m in MODES if m in modes)
    trials = _bounded(where, "trials", trials, 1, MAX_TRIALS, "3 trials per check is the default")
    seed = _bounded(where, "seed", seed, 0, MAX_SEED, "seeds are 32-bit")
    if (isinstance(float_factor, bool) or not isinstance(float_factor, (int, float))
            or not math.isfinite(float_factor) or not 1 <= float_factor <= 1e12):
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: float_factor",
                         detail=f"a number in [1, 1e12] is needed, got {float_factor!r}")
    return modes, trials, seed, float(float_factor)


# ---------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------
def _f64(arrays) -> list:
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _norm(a: list) -> float:
    return math.sqrt(sum(float(np.dot(np.ravel(x), np.ravel(x))) for x in a))


def _on_grid(arrays: list) -> bool:
    """Every value a multiple of ``2**-GRID_BITS`` below ``GRID_LIMIT`` in magnitude."""
    for a in arrays:
        if a.size and not (np.all(np.abs(a) < GRID_LIMIT)
                           and np.array_equal(np.ldexp(a, GRID_BITS),
                                              np.round(np.ldexp(a, GRID_BITS)))):
            return False
    return True


def _max_abs(arrays: list) -> float:
    return max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)


def _unit(u: list) -> list:
    top = _max_abs(_f64(u))
    return [x / top for x in u] if top > 0 else u


def _shift(x: list, u: list, step: float) -> list:
    return [a + step * d for a, d in zip(x, u, strict=True)]


def richardson(target: Target, x: list, u: list) -> tuple[list, list]:
    """``(J u, e)``: Richardson-extrapolated central differences in float64 and their
    elementwise error bound (module Notes); :class:`NotSmooth` at a kink or tie."""
    h = FD_STEP * max(1.0, _max_abs(x))
    fp, fm = target.evaluate(_shift(x, u, h)), target.evaluate(_shift(x, u, -h))
    fp2, fm2 = target.evaluate(_shift(x, u, h / 2)), target.evaluate(_shift(x, u, -h / 2))
    eps = float(np.finfo(np.float64).eps)
    ju, err, gap, top, rounding = [], [], 0.0, 0.0, 0.0
    for a, b, c, d in zip(fp, fm, fp2, fm2, strict=True):
        d1, d2 = (a - b) / (2 * h), (c - d) / h
        delta = d2 - d1
        ju.append(d2 + delta / 3)
        spread = np.abs(delta)
        if a.size:
            size = max(float(np.max(np.abs(a))), float(np.max(np.abs(c))))
            if not (math.isfinite(size) and np.all(np.isfinite(b)) and np.all(np.isfinite(d))):
                raise NotSmooth("the forward is not finite within h of the point")
            r = 16 * eps * size / h  # rounding of the four values, differenced
            gap, rounding = max(gap, float(np.max(spread))), max(rounding, r)
            top = max(top, float(np.max(np.abs(ju[-1]))))
            err.append(spread / 3 + r)
        else:
            err.append(spread)
    if gap > SMOOTH_LIMIT * top + 100 * rounding:
        raise NotSmooth(f"max|D(h) - D(h/2)| = {gap:.3g} at h = {h:.3g}")
    return ju, err


def dyadic_difference(target: Target, x: list, u: list, f0: list) -> list:
    """Exact mode's ``J u``: the central difference at the dyadic step :data:`EXACT_STEP`,
    verified exact (module Notes); :class:`NotSmooth` where it cannot be."""
    h = EXACT_STEP
    fp, fm = target.evaluate(_shift(x, u, h)), target.evaluate(_shift(x, u, -h))
    fp2, fm2 = target.evaluate(_shift(x, u, h / 2)), target.evaluate(_shift(x, u, -h / 2))
    ju = []
    for a, b, c, d, z in zip(fp, fm, fp2, fm2, f0, strict=True):
        d1, d2 = (a - b) / (2 * h), (c - d) / h
        if not (np.array_equal(d1, d2) and np.array_equal(a + b - 2 * z, 4 * (c + d - 2 * z))):
            raise NotSmooth("central differences at steps 2**-6 and 2**-7 disagree")
        ju.append(d2)
    return ju


# ---------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------
def _sampler(mode: str, seed: int, trial: int) -> Sampler:
    rng = np.random.default_rng([seed, _MODE_INDEX[mode], trial])
    return Sampler({"contract": "fd", "fd": "fd", "exact": "exact"}.get(mode, "float32"), rng)


def _result(target, check, mode, trials, residual, tolerance, passed, detail,
            applicable=True) -> CheckResult:
    return CheckResult(target.name, check, mode, trials, residual, tolerance, passed, detail,
                       applicable)


def _short(target: Target) -> str:
    """The source of ``J u`` without its explanation (the report's header has that)."""
    return target.jvp_source.split(" (")[0]


def _not_applicable(target, check, mode, why) -> CheckResult:
    return _result(target, check, mode, 0, 0.0, 0.0, True, why, applicable=False)


class _Worst:
    """The worst trial of one check so far, by residual over tolerance."""

    def __init__(self):
        self.ratio, self.residual, self.tolerance, self.detail = -1.0, 0.0, 0.0, ""
        self.trials = 0

    def add(self, residual: float, tolerance: float, detail: str) -> None:
        self.trials += 1
        if not math.isfinite(residual):
            residual = math.inf
        ratio = residual / tolerance if tolerance else (0.0 if residual == 0 else math.inf)
        if ratio > self.ratio:
            self.ratio, self.residual, self.tolerance, self.detail = (ratio, residual,
                                                                      tolerance, detail)

    def result(self, target, check: str, mode: str) -> CheckResult:
        return _result(target, check, mode, self.trials, self.residual, self.tolerance,
                       self.ratio <= 1.0, f"J u from {_short(target)}; {self.detail}")


def _flat(arrays: list) -> np.ndarray:
    """The arrays' values, one float64 vector."""
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=np.float64).ravel()
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def _identity(ju, err, u, v, grads, eps: float, factor: float, exact: bool) -> tuple:
    """``(residual, tolerance, <J u, v>, <u, J^T v>)`` of one trial (module Notes)."""
    ju, u, v, grads = _flat(ju), _flat(u), _flat(v), _flat(grads)
    lhs, rhs = float(np.dot(ju, v)), float(np.dot(u, grads))
    if exact:
        return abs(lhs - rhs), 0.0, lhs, rhs
    scale = math.sqrt(float(np.dot(ju, ju)) * float(np.dot(v, v))) + math.sqrt(
        float(np.dot(u, u)) * float(np.dot(grads, grads)))
    fd_bound = 0.0 if err is None else float(np.dot(_flat(err), np.abs(v)))
    if not scale:
        return abs(lhs - rhs), FD_SAFETY * fd_bound, lhs, rhs
    return abs(lhs - rhs) / scale, (factor * eps * scale + FD_SAFETY * fd_bound) / scale, lhs, rhs


class _Probes:
    """Counts the directions probed (a mutable tally shared by the checks)."""

    def __init__(self):
        self.count = 0


def _layout_note(strided: bool) -> str:
    return ", non-contiguous inputs and cotangent" if strided else ""


def _exact(target: Target, trials: int, seed: int, probes: _Probes) -> CheckResult:
    """Exact mode (module Notes): bit-equality on integer operands, where it applies."""
    worst = _Worst()
    for t in range(trials):
        s = _sampler("exact", seed, t)
        strided = t % 2 == 1
        for _attempt in range(FD_REDRAWS):
            point = [s.away_from_zero(shape) for shape in target.shapes]
            u = [s.array(shape) for shape in target.shapes]
            lin = target.linearize(point, np.float64, strided)
            outputs = _f64(lin.outputs)
            if not _on_grid(outputs):
                return _not_applicable(
                    target, "adjoint", "exact", f"not exact: at integer operands the forward "
                    f"leaves the 2**-{GRID_BITS} grid (it divides, takes roots or exponentiates)")
            try:
                ju = target.forward_jvp(point, u, np.float64)
                ju = dyadic_difference(target, point, u, outputs) if ju is None else _f64(ju)
                break
            except NotSmooth as why:
                reason = str(why)
        else:
            return _not_applicable(
                target, "adjoint", "exact", f"not exact: central differences are not exact "
                f"at {FD_REDRAWS} integer points ({reason}; a kink or tie there, or a smooth "
                "nonlinearity)")
        if not _on_grid(ju):
            return _not_applicable(target, "adjoint", "exact", "not exact: at integer "
                                   f"operands J u leaves the 2**-{GRID_BITS} grid")
        v = [s.array(o.shape) for o in outputs]
        residual, tolerance, lhs, rhs = _identity(ju, None, u, v, lin.pullback(v, strided),
                                                  0.0, 0.0, True)
        probes.count += 1
        worst.add(residual, tolerance, f"trial {t}{_layout_note(strided)}: <J u, v> = "
                                       f"{lhs!r}, <u, J^T v> = {rhs!r}")
    return worst.result(target, "adjoint", "exact")


def _floats(target: Target, modes: Sequence[str], trials: int, seed: int, factor: float,
            probes: _Probes, contract: list) -> list[CheckResult]:
    """The float32 and float64 modes, at shared points (float32 values, exact in float64):
    a central-difference ``J u`` is computed once, in float64, for both. The first trial's
    backward in the first mode is audited too: its contract result goes into ``contract``."""
    dtypes = {m: np.float32 if m == "float32" else np.float64 for m in modes}
    worst = {m: _Worst() for m in modes}
    for t in range(trials):
        s = _sampler("float32", seed, t)
        strided = t % 2 == 1
        err = None
        for _attempt in range(FD_REDRAWS):
            point = [s.away_from_zero(shape) for shape in target.shapes]
            u = _unit([s.array(shape) for shape in target.shapes])
            lins = {m: target.linearize([p.astype(d) for p in point], d, strided)
                    for m, d in dtypes.items()}
            jus = {m: target.forward_jvp([p.astype(d) for p in point],
                                         [w.astype(d) for w in u], d)
                   for m, d in dtypes.items()}
            if all(ju is not None for ju in jus.values()):
                jus = {m: _f64(ju) for m, ju in jus.items()}
                break
            try:
                ju, err = richardson(target, _f64(point), _f64(u))
                jus = dict.fromkeys(dtypes, ju)
                break
            except NotSmooth as why:
                reason = str(why)
        else:
            return [_result(target, "adjoint", m, t, math.inf, 0.0, False,
                            f"central differences do not converge at {FD_REDRAWS} points "
                            f"({reason}): a kink or tie everywhere, or a forward that computes "
                            "in float32 or lower inside") for m in modes]
        v = [s.array(o.shape) for o in next(iter(lins.values())).outputs]
        for m, d in dtypes.items():
            grads = None
            if t == 0 and not contract:
                grads, residual, problems = lins[m].audit([w.astype(d) for w in v])
                contract.append(_contract_result(target, d, residual, problems, factor))
            if grads is None:  # (raises again where the audit saw the backward raise)
                grads = lins[m].pullback([w.astype(d) for w in v], strided)
            residual, tolerance, lhs, rhs = _identity(jus[m], err, u, v, grads,
                                                      float(np.finfo(d).eps), factor, False)
            probes.count += 1
            worst[m].add(residual, tolerance, f"trial {t}{_layout_note(strided)}: <J u, v> = "
                                              f"{lhs!r}, <u, J^T v> = {rhs!r}")
    return [worst[m].result(target, "adjoint", m) for m in modes]


def _fd(target: Target, trials: int, seed: int, factor: float, probes: _Probes) -> CheckResult:
    """Forward-mode ``J u`` against central differences (module Notes)."""
    eps = float(np.finfo(np.float64).eps)
    worst = _Worst()
    for t in range(trials):
        s = _sampler("fd", seed, t)
        for _attempt in range(FD_REDRAWS):
            point = [s.away_from_zero(shape) for shape in target.shapes]
            u = _unit([s.array(shape) for shape in target.shapes])
            ju = target.forward_jvp(point, u, np.float64)
            if ju is None:
                return _not_applicable(
                    target, "jvp", "fd", "no forward mode: the adjoint checks' J u is the "
                    "central difference already")
            try:
                fd, err = richardson(target, point, u)
                break
            except NotSmooth as why:
                reason = str(why)
        else:
            return _result(target, "jvp", "fd", t, math.inf, 0.0, False,
                           f"central differences do not converge at {FD_REDRAWS} points "
                           f"({reason})")
        probes.count += 1
        ju = _f64(ju)
        diff = _norm([a - b for a, b in zip(ju, fd, strict=True)])
        size = _norm(ju) + _norm(fd)
        denominator = size or 1.0
        worst.add(diff / denominator, (FD_SAFETY * _norm(err) + factor * eps * size)
                  / denominator, f"trial {t}: ||J u - fd|| = {diff:.3e}, ||J u|| = "
                                 f"{_norm(ju):.3e}")
    return worst.result(target, "jvp", "fd")


def _contract_result(target, dtype, residual: float, problems: list, factor: float):
    detail = "; ".join(dict.fromkeys(problems)) if problems else (
        "the backward returns one gradient per input, with its shape and dtype, and the "
        "same values for non-contiguous inputs and cotangents")
    return _result(target, "backward", "contract", 1, residual,
                   factor * float(np.finfo(dtype).eps), not problems,
                   f"{np.dtype(dtype).name}: {detail}")


def _contract(target: Target, dtype, seed: int, factor: float) -> CheckResult:
    """The backward's contract on its own (when no float mode runs to carry it)."""
    s = _sampler("contract", seed, 0)
    point = [s.away_from_zero(shape).astype(dtype) for shape in target.shapes]
    lin = target.linearize(point, dtype, False)
    _, residual, problems = lin.audit([s.array(o.shape).astype(dtype) for o in lin.outputs])
    return _contract_result(target, dtype, residual, problems, factor)


def run_checks(target: Target, modes: Sequence[str], trials: int, seed: int,
               factor: float = FLOAT_FACTOR) -> AdjointReport:
    """Every check ``modes`` asks for, after the backward's contract, as a report.

    The contract is checked on the first float trial's backward, in float32 when ``modes``
    has it (where a backward's silent upcast or float16 detour shows), else in float64, and
    reported first. A check that raises (the code under
    test raising, say) is a failed check naming the exception; a
    :class:`~nnbridge.spec.errors.NNBridgeError` (bad input found on the way, an output too
    large) propagates.
    """
    start = time.perf_counter()
    probes = _Probes()
    results, seconds = [], []
    floats = tuple(m for m in ("float32", "float64") if m in modes)
    plans = [("adjoint", ("exact",))] if "exact" in modes else []
    plans += [("adjoint", floats)] if floats else [("backward", ("contract",))]
    plans += [("jvp", ("fd",))] if "fd" in modes else []
    contract: list = []
    for check, group in plans:
        begin = time.perf_counter()
        try:
            if check == "backward":
                found = [_contract(target, np.float64, seed, factor)]
            elif group == ("exact",):
                found = [_exact(target, trials, seed, probes)]
            elif check == "adjoint":
                found = _floats(target, group, trials, seed, factor, probes, contract)
            else:
                found = [_fd(target, trials, seed, factor, probes)]
        except NNBridgeError:
            raise
        except Exception as exc:  # the code under test raised: a failed check, with why
            found = [crashed(target.name, check, mode, exc) for mode in group]
            if check == "adjoint" and group == floats and not contract:
                contract.append(crashed(target.name, "backward", "contract", exc))
        elapsed = time.perf_counter() - begin
        if check == "adjoint" and group == floats:  # the contract first, as it ran first
            if not contract:  # no first trial got as far as its backward
                contract.append(_contract(target, np.float32 if "float32" in modes
                                          else np.float64, seed, factor))
            results.insert(0, contract[0])
            seconds.insert(0, elapsed / (len(found) + 1))
            elapsed -= seconds[0]
        results += found
        seconds += [elapsed / len(found)] * len(found)
    return AdjointReport(target.name, tuple(results), tuple(seconds), target.jvp_source,
                         probes.count, time.perf_counter() - start)
