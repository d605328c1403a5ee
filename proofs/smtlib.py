"""A second solver: every query of every verdict as SMT-LIB 2, re-checked by cvc5.

Each solver call a verdict rests on (a :class:`~nnbridge.proofs.engine.Query`: the claim's
negation for a proof, one per part; the counterexample query of a refutation; the equality
of a closed form with its chain; the vacuity queries) is written as one SMT-LIB 2 script,
``(set-logic ALL)``, Z3's declarations and assertions, ``(check-sat)``, with the status Z3
found in ``(set-info :status ...)``. cvc5 reads the very same text with its own parser and
decides it. The two must agree: a disagreement fails the obligation (status ``"disagree"``),
and cvc5's ``unknown`` (or its time limit) fails it too (status ``"unknown"``).

Integer division needs no translation: Z3's ``/`` and ``%`` on integers are SMT-LIB's
``div`` and ``mod`` (Euclidean), and both solvers leave ``x div 0`` unspecified alike; the
shape formulas guard every divisor that may be 0 (Lean's ``x / 0 = 0``) themselves.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

import z3

from .engine import Query, Verdict

__all__ = [
    "CVC5_CONFIGURATIONS",
    "DEFAULT_CVC5_RESOURCES",
    "DEFAULT_CVC5_TIMEOUT_MS",
    "check_folder",
    "cross_check",
    "cvc5_available",
    "cvc5_decide",
    "file_name",
    "smt2",
    "write_queries",
]

DEFAULT_CVC5_TIMEOUT_MS = 10_000
#: cvc5's resource units per query: above what every query it decides needs (under 500,000).
DEFAULT_CVC5_RESOURCES = 1_000_000


def smt2(query: Query, obligation: str = "") -> str:
    """The query as an SMT-LIB 2 script (``(set-logic ALL)`` first, ``(check-sat)`` last).

    A query Z3 found ``sat`` carries Z3's model as extra equalities, after the query's own
    assertions: the script then asks whether *this* model satisfies them, which a second
    solver decides at once; an ``unsat`` query is the query alone.
    """
    s = z3.Solver()
    s.add(*query.assertions)
    s.add(*query.model)
    text = s.to_smt2()
    if query.z3 in ("sat", "unsat"):
        text = text.replace("(set-info :status unknown)", f"(set-info :status {query.z3})", 1)
    pinned = f", with Z3's model ({len(query.model)} values) pinned" if query.model else ""
    head = (f"; nnbridge obligation {obligation}, query {query.label}: Z3 says "
            f"{query.z3}{pinned}\n")
    return head + "(set-logic ALL)\n" + text


def file_name(obligation: str, query: Query) -> str:
    """``<obligation>.<label>.smt2``, with only letters, digits, ``_``, ``-`` and ``.``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{obligation}.{query.label}") + ".smt2"


def check_folder(folder: str | os.PathLike):
    """Refuse, before any proof runs, a folder that cannot be created or written.

    Raises :class:`~nnbridge.spec.errors.UsageError` (``Rule.OUTPUT_PATH``).
    """
    from nnbridge.spec.errors import Rule, UsageError

    text = os.fspath(folder)
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise UsageError(Rule.OUTPUT_PATH, path=repr(text), detail="not a folder name")
    target = Path(text)
    try:
        if target.exists() and not target.is_dir():
            raise UsageError(Rule.OUTPUT_PATH, path=repr(text),
                             detail="it is a file; name a folder for the .smt2 files")
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".nnbridge-write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(Rule.OUTPUT_PATH, path=repr(text),
                         detail=exc.strerror or type(exc).__name__) from None
    return target


def write_queries(verdicts: Iterable[Verdict], folder: str | os.PathLike) -> list[Path]:
    """Write one ``.smt2`` file per query of every verdict; the paths written."""
    from nnbridge.spec.errors import Rule, UsageError

    target = Path(folder)
    written = []
    for verdict in verdicts:
        for query in verdict.queries:
            path = target / file_name(verdict.name, query)
            try:
                path.write_text(smt2(query, verdict.name), encoding="utf-8")
            except OSError as exc:
                raise UsageError(Rule.OUTPUT_PATH, path=repr(str(path)),
                                 detail=exc.strerror or type(exc).__name__) from None
            written.append(path)
    return written


# cvc5's own answer when it contradicts the script's (set-info :status ...)
_CONTRARY = re.compile(r"Expected result \w+ but got (sat|unsat|unknown)")


def cvc5_available() -> bool:
    """True when the ``cvc5`` Python package can be imported."""
    try:
        import cvc5  # noqa: F401
    except ImportError:
        return False
    return True


#: cvc5 configurations tried in turn until one decides: its defaults, then equalities solved
#: during preprocessing (which decides the ceil-mode pool obligation, (a + s - 1) div s
#: against a div s with s symbolic, that the defaults leave unknown, and loses others).
CVC5_CONFIGURATIONS: tuple[dict[str, str], ...] = ({}, {"arith-rewrite-equalities": "true"})


def _cvc5_once(text: str, options: dict[str, str], timeout_ms: int,
               resource_limit: int | None) -> str:
    import cvc5

    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    solver.setOption("tlimit-per", str(timeout_ms))
    if resource_limit is not None:
        solver.setOption("rlimit-per", str(resource_limit))
    for name, value in options.items():
        solver.setOption(name, value)
    symbols = cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(solver, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "nnbridge")
    answer = "unknown"
    while True:
        command = parser.nextCommand()
        if command.isNull():
            break
        out = command.invoke(solver, symbols).strip()
        contrary = _CONTRARY.search(out)
        if contrary:  # cvc5 checks the script's stated status itself, and found otherwise
            return contrary.group(1)
        if out.startswith("(error"):
            raise ValueError(f"cvc5 refuses the script: {out}")
        word = out.split(" ", 1)[0]
        if word in ("sat", "unsat", "unknown"):
            answer = word  # "unknown (TIMEOUT)" and the like count as unknown
    return answer


def cvc5_decide(text: str, timeout_ms: int = DEFAULT_CVC5_TIMEOUT_MS,
                resource_limit: int | None = DEFAULT_CVC5_RESOURCES) -> str:
    """cvc5's answer to an SMT-LIB 2 script's ``(check-sat)``: sat, unsat or unknown.

    Each configuration of :data:`CVC5_CONFIGURATIONS` is tried until one decides.
    ``resource_limit`` bounds cvc5's work in its own deterministic units (the same answer on
    any machine); ``timeout_ms`` bounds the wall clock too, for theories that rarely count
    their work (bit-blasting).
    """
    answer = "unknown"
    for options in CVC5_CONFIGURATIONS:
        answer = _cvc5_once(text, options, timeout_ms, resource_limit)
        if answer != "unknown":
            break
    return answer


def cross_check(verdict: Verdict, timeout_ms: int = DEFAULT_CVC5_TIMEOUT_MS,
                resource_limit: int | None = DEFAULT_CVC5_RESOURCES) -> Verdict:
    """Re-decide every query of ``verdict`` with cvc5; it fails unless both solvers agree.

    Fills each query's ``cvc5`` answer and time, sets ``solver`` to ``"z3+cvc5"``, and on a
    disagreement or a cvc5 ``unknown`` turns the verdict into a failure naming the query.
    """
    verdict.solver = "z3+cvc5"
    problems = []
    for query in verdict.queries:
        start = time.perf_counter()
        try:
            query.cvc5 = cvc5_decide(smt2(query, verdict.name), timeout_ms, resource_limit)
        except Exception as exc:  # a script cvc5 cannot read, or its API failing: no answer
            query.cvc5 = "error"
            problems.append(("unknown", f"cvc5: {exc} (query {query.label})"))
        query.cvc5_seconds = time.perf_counter() - start
        if query.cvc5 == "error":
            continue
        if query.cvc5 == "unknown":
            problems.append(("unknown", f"cvc5: unknown on query {query.label} "
                                        f"(Z3: {query.z3})"))
        elif query.cvc5 != query.z3:
            problems.append(("disagree", f"solvers disagree on query {query.label}: Z3 "
                                         f"{query.z3}, cvc5 {query.cvc5}"))
    if problems and verdict.passed:
        verdict.passed = False
        verdict.status = "disagree" if any(k == "disagree" for k, _ in problems) else "unknown"
    if problems:
        verdict.detail = "; ".join([verdict.detail] + [text for _, text in problems]
                                   if verdict.detail else [text for _, text in problems])
    return verdict
