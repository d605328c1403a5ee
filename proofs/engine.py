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
    A closed form of a size chain, *stated* (``expect``, the SymPy expression the statement
    prints) and *derived* (``closed``, what :func:`nnbridge.proofs.closed_form.derive`
    finds). Z3 proves the stated form equal to the chain for all sizes in the domain, and the
    derived form must be the stated one (structurally, or proved equal by Z3): SymPy
    proposes, the statement says, Z3 disposes.

Every obligation is also checked for vacuity (:mod:`nnbridge.proofs.vacuity`): hypotheses
that no value satisfies, or a proof that still holds when one of its ``subjects`` (the
formula under test) is replaced by an unconstrained value, give the verdict ``"vacuous"``,
a failure. Each solver call a verdict rests on is kept as a :class:`Query`, so that it can
be exported as SMT-LIB and re-checked by a second solver (:mod:`nnbridge.proofs.smtlib`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from .vacuity import hypotheses_hold_somewhere, subjects_matter

__all__ = [
    "ClosedForm",
    "Obligation",
    "Proof",
    "Query",
    "REGISTRY",
    "Refutation",
    "Verdict",
    "check",
    "nats",
    "needed_and_enough",
    "obligation",
    "obligations",
]

DEFAULT_TIMEOUT_MS = 10_000

#: Where a statement names its closed form: ``obligation(family, expect=EXPR)`` replaces this
#: placeholder in the builder's docstring by the printed ``EXPR``.
EXPECT_PLACEHOLDER = "{expect}"


def nats(names: str) -> tuple[list[z3.ArithRef], list[z3.BoolRef]]:
    """Z3 integer variables standing for Lean naturals, with their ``>= 0`` facts."""
    xs = [z3.Int(n) for n in names.split()]
    return xs, [x >= 0 for x in xs]


def needed_and_enough(accepted: Any, rules: dict[str, Any]) -> dict[str, Any]:
    """Claim parts stating that ``accepted`` holds exactly when every rule does: one part
    per rule (``accepted => rule``, named after it) and one for them all together, curried
    (``rule1 => (rule2 => ... => accepted)``), so that a refutation names the rule that fails.

    Written as one conjunction, the last part could be the very term ``accepted`` is (Z3
    shares equal terms), an identity that the vacuity check rightly refuses; curried, it
    states the same and still depends on ``accepted``.
    """
    parts = {f"needs {name}": z3.Implies(accepted, rule) for name, rule in rules.items()}
    enough = accepted
    for rule in reversed(list(rules.values())):
        enough = z3.Implies(rule, enough)
    parts["the rules suffice"] = enough
    return parts


@dataclass
class Proof:
    """For all ``variables``: ``hypotheses => claim``.

    ``claim`` may be a dict of named parts; each part is then proved by its own solver call
    (a conjunction is proved by proving its conjuncts), which keeps nonlinear goals small.
    ``subjects`` are the terms of the formula under test; the proof is vacuous if the claim
    still holds with any one of them replaced by an unconstrained value.
    """

    variables: Sequence[z3.ArithRef]
    hypotheses: Sequence[Any]
    claim: Any
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    subjects: Sequence[Any] = ()


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
    """``chain(n) == expect`` for all ``n`` satisfying ``hypotheses``.

    ``closed`` is SymPy's derived form (:func:`nnbridge.proofs.closed_form.derive`);
    ``expect`` the stated one. Left ``None``, ``expect`` is the obligation's own (the object
    its statement was printed from); a closed form with no stated value fails.
    """

    variable: z3.ArithRef
    hypotheses: Sequence[Any]
    chain: Any
    closed: Any  # SymPy's derived form, in the variable's name
    expect: Any = None  # the stated form, a SymPy expression in the variable's name
    timeout_ms: int = DEFAULT_TIMEOUT_MS


@dataclass
class Query:
    """One solver call a verdict rests on: ``assertions`` and what each solver answered.

    ``z3`` is ``"sat"``, ``"unsat"`` or ``"unknown"``; for ``sat``, ``model`` holds Z3's model
    as equalities (``n == 5``), so that a second solver can confirm that this very model
    satisfies the assertions. ``cvc5`` is filled in by a cross-check
    (:func:`nnbridge.proofs.smtlib.cross_check`).
    """

    label: str
    assertions: list[Any]
    z3: str
    seconds: float
    model: list[Any] = field(default_factory=list)  # for sat: Z3's model, as equalities
    cvc5: str | None = None
    cvc5_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"label": self.label, "z3": self.z3, "seconds": round(self.seconds, 4)}
        if self.cvc5 is not None:
            found.update(cvc5=self.cvc5, cvc5_seconds=round(self.cvc5_seconds or 0.0, 4))
        return found


@dataclass
class Verdict:
    """The outcome of one obligation, with the figures."""

    name: str
    family: str
    statement: str
    kind: str  # "proof", "refutation" or "closed form"
    # "proved", "refuted", "vacuous", "mismatch", "unstated", "unknown", "disagree", "error"
    status: str
    passed: bool
    seconds: float
    counterexample: dict[str, int] | None = None
    detail: str = ""
    solver: str = "z3"
    queries: list[Query] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "statement": self.statement,
            "kind": self.kind,
            "status": self.status,
            "passed": self.passed,
            "seconds": round(self.seconds, 4),
            "solver": self.solver,
            "counterexample": self.counterexample,
            "detail": self.detail,
            "queries": [q.as_dict() for q in self.queries],
        }


@dataclass
class Obligation:
    name: str
    family: str
    statement: str
    build: Callable[[], Proof | Refutation | ClosedForm]
    kind: str = field(default="proof")
    expect: Any = None  # the stated closed form the statement prints, if any


REGISTRY: dict[str, Obligation] = {}


def obligation(family: str, *, expect: Any = None):
    """Register the decorated builder; its docstring is the statement.

    With ``expect`` (a stated closed form, a SymPy expression) the docstring must contain
    ``{expect}``, which is replaced by the printed form: the formula the statement shows and
    the one the engine checks are then one object.
    """

    def register(build):
        doc = build.__doc__ or ""
        if expect is not None:
            if EXPECT_PLACEHOLDER not in doc:
                raise ValueError(f"obligation {build.__name__}: a stated closed form must "
                                 f"appear in its statement; write {EXPECT_PLACEHOLDER} there")
            from .closed_form import describe

            doc = doc.replace(EXPECT_PLACEHOLDER, describe(expect))
            build.__doc__ = doc
        statement = " ".join(doc.split())
        REGISTRY[build.__name__] = Obligation(build.__name__, family, statement, build,
                                              expect=expect)
        return build

    return register


def obligations(family: str | None = None) -> list[Obligation]:
    """All registered obligations (importing every family module first), in order."""
    from . import families  # noqa: F401  (registers every obligation)

    return [o for o in REGISTRY.values() if family is None or o.family == family]


# --------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------
def _bool(x) -> Any:
    return z3.BoolVal(x) if isinstance(x, bool) else x


class _Session:
    """The solver calls of one verdict: each is recorded as a :class:`Query`."""

    def __init__(self, cap_ms: int | None):
        self.cap_ms = cap_ms
        self.queries: list[Query] = []

    def timeout(self, timeout_ms: int) -> int:
        return timeout_ms if self.cap_ms is None else min(timeout_ms, self.cap_ms)

    def solver(self, timeout_ms: int) -> z3.Solver:
        s = z3.Solver()
        s.set("timeout", self.timeout(timeout_ms))
        return s

    def record(self, label: str, solver: z3.Solver, result, seconds: float) -> str:
        word = str(result)
        model = []
        if result == z3.sat:
            found = solver.model()
            model = [d() == found[d] for d in found.decls() if d.arity() == 0]
        self.queries.append(Query(label, list(solver.assertions()), word, seconds, model))
        return word

    def solve(self, label: str, assertions: Sequence[Any], timeout_ms: int):
        """``(result, solver)`` for the conjunction of ``assertions``; recorded."""
        s = self.solver(timeout_ms)
        s.add(*[_bool(a) for a in assertions])
        start = time.perf_counter()
        result = s.check()
        return self.record(label, s, result, time.perf_counter() - start), s


def _model_values(model: z3.ModelRef, variables: Sequence[z3.ArithRef]) -> dict[str, int]:
    return {str(v): model.eval(v, model_completion=True).as_long() for v in variables}


def _lexmin(run: _Session, solver: z3.Solver,
            variables: Sequence[z3.ArithRef]) -> tuple[str, dict | None]:
    """Lexicographically least model: for each variable in turn, tighten until ``unsat``.

    The ``unsat`` that closes each variable is recorded (``least.<variable>``): together they
    prove the counterexample least; then the counterexample itself, every variable pinned,
    is recorded as ``counterexample`` (``sat``).
    """
    if solver.check() != z3.sat:
        return "unknown", None
    values = _model_values(solver.model(), variables)
    for v in variables:
        while True:
            solver.push()
            solver.add(v < values[str(v)])
            start = time.perf_counter()
            result = solver.check()
            if result == z3.sat:
                values = _model_values(solver.model(), variables)
                solver.pop()
                continue
            if result == z3.unsat:
                run.record(f"least.{v}", solver, result, time.perf_counter() - start)
            solver.pop()
            if result == z3.unknown:
                return "unknown", values
            break
        solver.add(v == values[str(v)])
    return _pinned(run, solver, variables, values)


def _pinned(run: _Session, solver: z3.Solver, variables: Sequence[z3.ArithRef],
            values: dict) -> tuple[str, dict | None]:
    """Record the query with every variable pinned to the counterexample: ``sat``."""
    solver.push()
    solver.add(*[v == values[str(v)] for v in variables])
    start = time.perf_counter()
    result = run.record("counterexample", solver, solver.check(), time.perf_counter() - start)
    solver.pop()
    return ("sat", values) if result == "sat" else ("unknown", values)


def _parts(claim: Any) -> dict[str, Any]:
    return {k: _bool(v) for k, v in claim.items()} if isinstance(claim, dict) \
        else {"": _bool(claim)}


def _check_proof(run: _Session, claim: Proof) -> tuple[str, dict | None, str]:
    hyps = [_bool(h) for h in claim.hypotheses]
    empty = hypotheses_hold_somewhere(run.solve, hyps, claim.timeout_ms)
    if empty is not None:
        return empty[0], None, empty[1]
    parts = _parts(claim.claim)
    for name, part in parts.items():
        label = f"claim.{name}" if name else "claim"
        result, s = run.solve(label, [*hyps, z3.Not(part)], claim.timeout_ms)
        where = f" (part {name})" if name else ""
        if result == "sat":
            return "refuted", _model_values(s.model(), claim.variables), "negation sat" + where
        if result != "unsat":
            return "unknown", None, f"solver: {s.reason_unknown()}{where}"
    if claim.subjects:
        free = subjects_matter(run.solve, hyps, parts, claim.subjects, claim.timeout_ms)
        if free is not None:
            return free[0], None, free[1]
    detail = f"negation unsat for each of {len(parts)} parts" if len(parts) > 1 \
        else "negation unsat"
    if claim.subjects:
        detail += f"; each of {len(claim.subjects)} subjects matters"
    return "proved", None, detail


def _check_refutation(run: _Session, claim: Refutation) -> tuple[str, dict | None, str]:
    hyps = [_bool(h) for h in claim.hypotheses]
    empty = hypotheses_hold_somewhere(run.solve, hyps, claim.timeout_ms)
    if empty is not None:
        return empty[0], None, empty[1]
    s = run.solver(claim.timeout_ms)
    s.add(*hyps)
    s.add(z3.Not(_bool(claim.claim)))
    if claim.box is not None:
        # a counterexample inside a small box is as good as any, and much cheaper to find
        s.push()
        s.add(*[z3.And(v >= 0, v <= claim.box) for v in claim.variables])
        if s.check() == z3.sat:
            values = _model_values(s.model(), claim.variables)
            status, least = (_lexmin(run, s, claim.variables) if claim.minimize
                             else _pinned(run, s, claim.variables, values))
            if status == "sat":
                where = f"least with every variable in 0..{claim.box}; " if claim.minimize \
                    else ""
                return "refuted", least, where
        s.pop()
    start = time.perf_counter()
    result = s.check()
    if result == z3.unsat:
        run.record("counterexample", s, result, time.perf_counter() - start)
        return "proved", None, "expected a counterexample, but the statement holds"
    if result != z3.sat:
        run.record("counterexample", s, result, time.perf_counter() - start)
        return "unknown", None, f"solver: {s.reason_unknown()}"
    values = _model_values(s.model(), claim.variables)
    status, least = (_lexmin(run, s, claim.variables) if claim.minimize
                     else _pinned(run, s, claim.variables, values))
    if status != "sat":
        return "unknown", least, "solver: unknown while minimising the counterexample"
    return "refuted", least, "lexicographically least; " if claim.minimize else ""


def _stated(ob: Obligation, claim: ClosedForm):
    if claim.expect is not None and ob.expect is not None and claim.expect is not ob.expect \
            and claim.expect != ob.expect:
        raise ValueError(f"the builder checks {claim.expect}, the statement states "
                         f"{ob.expect}")
    return claim.expect if claim.expect is not None else ob.expect


def _check_closed_form(run: _Session, ob: Obligation,
                       claim: ClosedForm) -> tuple[str, dict | None, str]:
    from .closed_form import describe, sympy_to_z3

    expect = _stated(ob, claim)
    var = claim.variable
    if expect is None:
        return "unstated", None, (f"SymPy derives {describe(claim.closed)}, but no closed form "
                                  "is stated: give obligation(..., expect=...) or "
                                  "ClosedForm(..., expect=...)")
    env = {str(var): var}
    hyps = [_bool(h) for h in claim.hypotheses]
    empty = hypotheses_hold_somewhere(run.solve, hyps, claim.timeout_ms)
    if empty is not None:
        return empty[0], None, empty[1]
    stated = sympy_to_z3(expect, env)
    head = f"{var} -> {describe(expect)}"
    result, s = run.solve("closed_form", [*hyps, claim.chain != stated], claim.timeout_ms)
    if result == "sat":
        return "refuted", _model_values(s.model(), [var]), \
            f"{head}; Z3: the chain differs from the stated form"
    if result != "unsat":
        return "unknown", None, f"{head}; solver: {s.reason_unknown()}"
    if claim.closed == expect:
        return "proved", None, f"{head}; Z3: negation unsat; SymPy derives the same form"
    derived = sympy_to_z3(claim.closed, env)
    result, s = run.solve("derived_form", [*hyps, derived != stated], claim.timeout_ms)
    both = f"stated {describe(expect)}, SymPy derives {describe(claim.closed)}"
    if result == "unsat":
        return "proved", None, f"{head}; Z3: negation unsat; {both}, proved equal"
    if result == "sat":
        return "mismatch", _model_values(s.model(), [var]), f"{both}: they differ"
    return "unknown", None, f"{both}; solver: {s.reason_unknown()} comparing them"


def check(ob: Obligation, *, timeout_ms: int | None = None) -> Verdict:
    """Discharge one obligation and report the verdict, its figures and its queries.

    ``timeout_ms`` caps every solver call's own timeout (the mutation runner's budget).
    """
    start = time.perf_counter()
    run = _Session(timeout_ms)
    try:
        claim = ob.build()
        if isinstance(claim, Proof):
            kind = "proof"
            status, cex, detail = _check_proof(run, claim)
            passed = status == "proved"
        elif isinstance(claim, Refutation):
            kind = "refutation"
            status, cex, detail = _check_refutation(run, claim)
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
            status, cex, detail = _check_closed_form(run, ob, claim)
            passed = status == "proved"
        else:  # pragma: no cover - a builder bug
            raise TypeError(f"obligation {ob.name} built {type(claim).__name__}")
    except Exception as exc:  # an obligation that cannot be built fails, loudly
        return Verdict(ob.name, ob.family, ob.statement, "?", "error", False,
                       time.perf_counter() - start, None, f"{type(exc).__name__}: {exc}",
                       queries=run.queries)
    return Verdict(ob.name, ob.family, ob.statement, kind, status, passed,
                   time.perf_counter() - start, cex, detail, queries=run.queries)
