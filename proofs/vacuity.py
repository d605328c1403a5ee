"""Vacuity: an obligation that holds of nothing, or whatever its formula says, is refused.

Two ways a "proved" verdict can be empty, each checked by a solver call of its own:

1. **Unsatisfiable hypotheses.** ``hypotheses => claim`` holds for every claim when no value
   satisfies the hypotheses. :func:`hypotheses_hold_somewhere` asks Z3 for one model of the
   hypotheses alone; ``unsat`` makes the obligation *vacuous*.
2. **A formula that does not matter.** A :class:`~nnbridge.proofs.engine.Proof` names its
   *subjects*: the terms of the formula under test (a shape formula's Z3 reading, PyTorch's
   acceptance condition). :func:`subjects_matter` replaces each subject, in turn, by a fresh
   unconstrained constant of its sort (``z3.substitute``) in every part of the claim where
   it occurs, and asks whether ``hypotheses and not claim'`` is satisfiable. If the claim
   still holds with the subject free, it says nothing about that formula: *vacuous*. A
   subject that occurs in no part of the claim is vacuous too.

Each function takes ``solve(label, assertions, timeout_ms) -> (result, solver)``, the engine's
recording solver call, so that every vacuity query is exported and cross-checked like the
claim's own queries. They return ``None`` when the check passes, else ``(status, detail)``
with status ``"vacuous"`` or ``"unknown"`` (a solver that cannot decide is a failure too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import z3

__all__ = ["hypotheses_hold_somewhere", "short", "subjects_matter"]

Solve = Callable[[str, Sequence[Any], int], tuple[str, z3.Solver]]


def short(term: Any, limit: int = 80) -> str:
    """A term as one short line for a verdict's detail."""
    text = " ".join(str(term).split())
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def hypotheses_hold_somewhere(solve: Solve, hypotheses: Sequence[Any],
                              timeout_ms: int) -> tuple[str, str] | None:
    """``None`` when some value satisfies every hypothesis; else ``("vacuous", why)``."""
    result, solver = solve("hypotheses", list(hypotheses), timeout_ms)
    if result == "sat":
        return None
    if result == "unsat":
        return "vacuous", "the hypotheses are unsatisfiable: the claim would hold of nothing"
    return "unknown", f"solver: {solver.reason_unknown()} (deciding the hypotheses)"


def subjects_matter(solve: Solve, hypotheses: Sequence[Any], parts: Mapping[str, Any],
                    subjects: Sequence[Any], timeout_ms: int) -> tuple[str, str] | None:
    """``None`` when every subject matters to every part of the claim it occurs in.

    For subject ``i`` and a part ``c`` that contains it, ``c'`` is ``c`` with the subject
    replaced by a fresh constant; ``hypotheses and not c'`` must be satisfiable (``c'`` is not
    provable), else the part holds whatever the subject is.
    """
    for i, subject in enumerate(subjects, start=1):
        if not z3.is_expr(subject):
            raise TypeError(f"subject #{i} is {subject!r}, not a Z3 term: a constant folded "
                            "by the reading has nothing to vary; leave it out of subjects")
        free = z3.FreshConst(subject.sort(), f"free{i}")
        found = False
        for name, part in parts.items():
            if not z3.is_expr(part):
                continue
            varied = z3.substitute(part, (subject, free))
            if varied.eq(part):
                continue
            found = True
            where = f".{name}" if name else ""
            result, solver = solve(f"subject{i}{where}", [*hypotheses, z3.Not(varied)],
                                   timeout_ms)
            if result == "unsat":
                part_name = f" (part {name})" if name else ""
                return "vacuous", (f"the claim{part_name} still holds with subject #{i} "
                                   f"{short(subject)} replaced by an unconstrained value")
            if result != "sat":
                return "unknown", (f"solver: {solver.reason_unknown()} (varying subject "
                                   f"#{i}{where})")
        if not found:
            return "vacuous", f"subject #{i} {short(subject)} occurs in no part of the claim"
    return None
