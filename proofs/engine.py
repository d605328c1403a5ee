"""The proof engine: obligations, claims and honest verdicts.

An *obligation* is a named, documented statement about the shape formulas. Its builder
returns one of three claims:

:class:`Proof`
    ``hypotheses => claim`` for all values of the variables. Z3 is asked whether
    ``hypotheses and not claim`` is satisfiable: ``unsat`` is a proof; ``sat`` refutes the
    statement and the model is printed as a counterexample; ``unknown`` (or a timeout) is a
    failure, reported as such.
:class:`Refutation`
    A statement that is known to be false (a Lean/PyTorch divergence, a needed condition).
    It passes only when Z3 finds a counterexample *and* the plain ``int`` reading of the same
    formulas confirms it. The counterexample is minimised lexicographically over the
    variables in order, each step closed by an ``unsat``, so "minimal" is itself proved.
:class:`ClosedForm`
    A SymPy expression derived for a size chain, checked by Z3 to equal the chain for all
    sizes in the domain: SymPy proposes, Z3 disposes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

__all__ = [
    "ClosedForm",
    "Obligation",
    "Proof",
    "REGISTRY",
    "Refutation",
    "Verdict",
    "check",
    "nats",
    "obligation",
    "obligations",
]

DEFAULT_TIMEOUT_MS = 10_000


def nats(names: str) -> tuple[list[z3.ArithRef], list[z3.BoolRef]]:
    """Z3 integer variables standing for Lean naturals, with their ``>= 0`` facts."""
    xs = [z3.Int(n) for n in names.split()]
    return xs, [x >= 0 for x in xs]


@dataclass
class Proof:
    """For all ``variables``: ``hypotheses => claim``.

    ``claim`` may be a dict of named parts; each part is then proved by its own solver call
    (a conjunction is proved by proving its conjuncts), which keeps nonlinear goals small.
    """

    variables: Sequence[z3.ArithRef]
    hypotheses: Sequence[Any]
    claim: Any
    timeout_ms: int = DEFAULT_TIMEOUT_MS


@dataclass
class Refutation:
    """``hypotheses => claim`` is false; find the lexicographically least counterexample.

    ``confirm(values)`` re-evaluates the counterexample with the ``int`` reading and returns
    a short description (e.g. ``"Lean 3, PyTorch 1"``), or ``None`` if it does not confirm.
    ``expect`` optionally pins the minimal counterexample the statement announces.
    """

    variables: Sequence[z3.ArithRef]
    hypotheses: Sequence[Any]
    claim: Any
    confirm: Callable[[dict[str, int]], str | None]
    expect: dict[str, int] | None = None
    minimize: bool = True
    box: int | None = None  # search 0 <= v <= box first (least within it), then unbounded
    timeout_ms: int = DEFAULT_TIMEOUT_MS


@dataclass
class ClosedForm:
    """``chain(n) == closed`` for all ``n`` satisfying ``hypotheses``; ``closed`` from SymPy."""

    variable: z3.ArithRef
    hypotheses: Sequence[Any]
    chain: Any
    closed: Any  # a SymPy expression in the variable's name
    timeout_ms: int = DEFAULT_TIMEOUT_MS


@dataclass
class Verdict:
    """The outcome of one obligation, with the figures."""

    name: str
    family: str
    statement: str
    kind: str  # "proof", "refutation" or "closed form"
    status: str  # "proved", "refuted", "unknown" or "error"
    passed: bool
    seconds: float
    counterexample: dict[str, int] | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "statement": self.statement,
            "kind": self.kind,
            "status": self.status,
            "passed": self.passed,
            "seconds": round(self.seconds, 4),
            "counterexample": self.counterexample,
            "detail": self.detail,
        }


@dataclass
class Obligation:
    name: str
    family: str
    statement: str
    build: Callable[[], Proof | Refutation | ClosedForm]
    kind: str = field(default="proof")


REGISTRY: dict[str, Obligation] = {}


def obligation(family: str):
    """Register the decorated builder; its docstring is the statement."""

    def register(build):
        statement = " ".join((build.__doc__ or "").split())
        REGISTRY[build.__name__] = Obligation(build.__name__, family, statement, build)
        return build

    return register


def obligations(family: str | None = None) -> list[Obligation]:
    """All registered obligations (importing every family module first), in order."""
    from . import families  # noqa: F401  (registers every obligation)

    return [o for o in REGISTRY.values() if family is None or o.family == family]


# --------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------
def _solver(timeout_ms: int) -> z3.Solver:
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    return s


def _model_values(model: z3.ModelRef, variables: Sequence[z3.ArithRef]) -> dict[str, int]:
    return {str(v): model.eval(v, model_completion=True).as_long() for v in variables}


def _bool(x) -> Any:
    return z3.BoolVal(x) if isinstance(x, bool) else x


def _lexmin(solver: z3.Solver, variables: Sequence[z3.ArithRef]) -> tuple[str, dict | None]:
    """Lexicographically least model: for each variable in turn, tighten until ``unsat``."""
    if solver.check() != z3.sat:
        return "unknown", None
    values = _model_values(solver.model(), variables)
    for v in variables:
        while True:
            solver.push()
            solver.add(v < values[str(v)])
            result = solver.check()
            if result == z3.sat:
                values = _model_values(solver.model(), variables)
                solver.pop()
                continue
            solver.pop()
            if result == z3.unknown:
                return "unknown", values
            break
        solver.add(v == values[str(v)])
    return "sat", values


def _check_proof(claim: Proof) -> tuple[str, dict | None, str]:
    parts = claim.claim if isinstance(claim.claim, dict) else {"": claim.claim}
    for name, part in parts.items():
        s = _solver(claim.timeout_ms)
        s.add(*[_bool(h) for h in claim.hypotheses])
        s.add(z3.Not(_bool(part)))
        result = s.check()
        where = f" (part {name})" if name else ""
        if result == z3.sat:
            return "refuted", _model_values(s.model(), claim.variables), "negation sat" + where
        if result != z3.unsat:
            return "unknown", None, f"solver: {s.reason_unknown()}{where}"
    if len(parts) > 1:
        return "proved", None, f"negation unsat for each of {len(parts)} parts"
    return "proved", None, "negation unsat"


def _check_refutation(claim: Refutation) -> tuple[str, dict | None, str]:
    s = _solver(claim.timeout_ms)
    s.add(*[_bool(h) for h in claim.hypotheses])
    s.add(z3.Not(_bool(claim.claim)))
    if claim.box is not None:
        # a counterexample inside a small box is as good as any, and much cheaper to find
        s.push()
        s.add(*[z3.And(v >= 0, v <= claim.box) for v in claim.variables])
        if s.check() == z3.sat:
            if not claim.minimize:
                return "refuted", _model_values(s.model(), claim.variables), ""
            status, least = _lexmin(s, claim.variables)
            if status == "sat":
                return "refuted", least, f"least with every variable in 0..{claim.box}; "
        s.pop()
    result = s.check()
    if result == z3.unsat:
        return "proved", None, "expected a counterexample, but the statement holds"
    if result == z3.unknown:
        return "unknown", None, f"solver: {s.reason_unknown()}"
    values = _model_values(s.model(), claim.variables)
    if not claim.minimize:
        return "refuted", values, ""
    status, least = _lexmin(s, claim.variables)
    if status != "sat":
        return "unknown", least, "solver: unknown while minimising the counterexample"
    return "refuted", least, "lexicographically least; "


def check(ob: Obligation) -> Verdict:
    """Discharge one obligation and report the verdict and its figures."""
    start = time.perf_counter()
    try:
        claim = ob.build()
        if isinstance(claim, Proof):
            kind = "proof"
            status, cex, detail = _check_proof(claim)
            passed = status == "proved"
        elif isinstance(claim, Refutation):
            kind = "refutation"
            status, cex, detail = _check_refutation(claim)
            passed = status == "refuted"
            if passed:
                confirmed = claim.confirm(cex)
                if confirmed is None:
                    passed, detail = False, detail + "the int reading does not confirm it"
                else:
                    detail += confirmed
                if claim.expect is not None and cex != claim.expect:
                    passed = False
                    detail += f"; expected the least counterexample {claim.expect}"
        elif isinstance(claim, ClosedForm):
            kind = "closed form"
            from .closed_form import sympy_to_z3

            closed_z3 = sympy_to_z3(claim.closed, {str(claim.variable): claim.variable})
            proof = Proof([claim.variable], claim.hypotheses, claim.chain == closed_z3,
                          claim.timeout_ms)
            status, cex, detail = _check_proof(proof)
            passed = status == "proved"
            detail = f"{claim.variable} -> {claim.closed}; Z3: {detail}"
        else:  # pragma: no cover - a builder bug
            raise TypeError(f"obligation {ob.name} built {type(claim).__name__}")
    except Exception as exc:  # an obligation that cannot be built fails, loudly
        return Verdict(ob.name, ob.family, ob.statement, "?", "error", False,
                       time.perf_counter() - start, None, f"{type(exc).__name__}: {exc}")
    return Verdict(ob.name, ob.family, ob.statement, kind, status, passed,
                   time.perf_counter() - start, cex, detail)
