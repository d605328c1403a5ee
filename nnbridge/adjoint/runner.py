"""Every check that applies to one registry entry, each with the seconds it took.

A builder entry (``@entry``) gets the exact (where it is exact), float32 and float64 adjoint
identities and the finite-difference JVP check; an entry with its own runner
(:func:`~nnbridge.adjoint.torch_entry`, :func:`~nnbridge.adjoint.numpy_entry`) runs that
runner. A check that crashes is a failed check whose detail names the exception and where
it was raised, never an exception out of here: one broken entry does not stop the others.
"""

from __future__ import annotations

import time
import traceback

from . import check as checks
from .check import CheckResult
from .registry import Entry

__all__ = ["crashed", "run_entry"]


def crashed(name: str, check: str, mode: str, exc: BaseException) -> CheckResult:
    """The failed :class:`CheckResult` of a check that raised ``exc``."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    return CheckResult(name, check, mode, 0, float("inf"), 0.0, False,
                       f"{type(exc).__name__}: {text}{where}")


def run_entry(item: Entry, seed: int = 0, trials: int | None = None) -> list:
    """``[(CheckResult, seconds), ...]`` for every check that applies to ``item``: exact (if
    the entry is exact), float32, float64 adjoint identities, then the finite-difference JVP
    check; ``trials`` (default: the entry's own) per check."""
    if item.run is not None:
        start = time.perf_counter()
        try:
            return list(item.run(seed, trials))
        except Exception as exc:  # a runner that crashes is a failed entry, with the reason
            return [(crashed(item.name, "adjoint", "run", exc), time.perf_counter() - start)]
    plans = [("adjoint", m) for m in (("exact",) if item.exact else ()) + ("float32", "float64")]
    if item.fd:
        plans.append(("jvp", "fd"))
    results = []
    for check, mode in plans:
        start = time.perf_counter()
        try:
            # looked up on the module at each call (tests stand in for them there)
            result = (checks.check_adjoint(item, mode, trials, seed=seed) if check == "adjoint"
                      else checks.check_jvp(item, trials, seed=seed))
        except Exception as exc:  # an entry that crashes is a failed entry, with the reason
            result = crashed(item.name, check, mode, exc)
        results.append((result, time.perf_counter() - start))
    return results
