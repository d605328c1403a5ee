"""``nnbridge adjoint``: run the adjoint identity and JVP checks over the whole registry."""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from nnbridge.commands import add_command, integer_option
from nnbridge.report import check_output, console, verdict_style, write_json, write_output
from nnbridge.spec.errors import Rule, UsageError

__all__ = ["MAX_SEED", "MAX_TRIALS", "register", "run_adjoint", "run_entry"]

#: The most trials per check ``--trials`` may ask for (entries default to 2 or 3).
MAX_TRIALS = 1000

#: The largest first seed (a 32-bit seed; trial ``t`` uses ``seed + t``).
MAX_SEED = 2**32 - 1


def run_entry(item, seed: int = 0, trials: int | None = None) -> list:
    """Every check that applies to one registry entry: exact (if the entry is exact),
    float32, float64 adjoint identities, then the finite-difference JVP check; ``trials``
    (default: the entry's own) per check."""
    from nnbridge.adjoint.check import CheckResult, check_adjoint, check_jvp

    plans = [("adjoint", m) for m in (("exact",) if item.exact else ()) + ("float32", "float64")]
    if item.fd:
        plans.append(("jvp", "fd"))
    results = []
    for check, mode in plans:
        start = time.perf_counter()
        try:
            result = (check_adjoint(item, mode, trials, seed=seed) if check == "adjoint"
                      else check_jvp(item, trials, seed=seed))
        except Exception as exc:  # an entry that crashes is a failed entry, with the reason
            last = traceback.extract_tb(exc.__traceback__)[-1]
            result = CheckResult(item.name, check, mode, 0, float("inf"), 0.0, False,
                                 f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})")
        results.append((result, time.perf_counter() - start))
    return results


def _finite(value: float):
    """JSON has no infinity: a non-finite residual is written as the string "inf"/"nan"."""
    return value if value == value and abs(value) != float("inf") else str(value)


def _summary(name: str, results: list) -> dict:
    """One JSON object per registry entry: the headline adjoint check (exact where the entry
    is exact, else float64), ``passed`` over all its checks, and every check under ``checks``."""
    checks = [r for r, _ in results]
    adjoint = [r for r in checks if r.check == "adjoint"]
    head = next((r for r in adjoint if r.mode == "exact"), None) or (
        next((r for r in adjoint if r.mode == "float64"), None) or checks[0])
    return {
        "name": name, "mode": head.mode, "trials": head.trials,
        "worst_residual": _finite(head.worst_residual), "tolerance": head.tolerance,
        "passed": all(r.passed for r in checks),
        "checks": [dict(r.as_dict(), worst_residual=_finite(r.worst_residual),
                        seconds=round(t, 4)) for r, t in results],
    }


def _junit(path: str, per_entry: list, seconds: float) -> None:
    from xml.etree import ElementTree as ET

    cases = [(name, r, t) for name, results in per_entry for r, t in results]
    failures = sum(not r.passed for _, r, _ in cases)
    suite = ET.Element("testsuite", name="nnbridge adjoint", tests=str(len(cases)),
                       failures=str(failures), errors="0", time=f"{seconds:.3f}")
    for name, r, t in cases:
        case = ET.SubElement(suite, "testcase", classname=f"nnbridge.adjoint.{name}",
                             name=f"{r.check}[{r.mode}]", time=f"{t:.4f}")
        text = (f"trials={r.trials} worst_residual={r.worst_residual!r} "
                f"tolerance={r.tolerance!r} {r.detail}")
        if not r.passed:
            ET.SubElement(case, "failure", message=f"{r.check} check failed ({r.mode})").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    root = ET.Element("testsuites")
    root.append(suite)
    write_output(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def _bounded(name: str, value, minimum: int, maximum: int, why: str) -> int:
    """An int option given in Python: an int (not a bool) in ``minimum..maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(Rule.PARAM_VALUE, name=name,
                         detail=f"must be an integer, got {type(value).__name__}")
    if value > maximum:
        raise UsageError(Rule.WORK_LIMIT, name=name, value=value if value.bit_length() < 128
                         else f"an int of {value.bit_length()} bits", limit=maximum, detail=why)
    if value < minimum:
        raise UsageError(Rule.PARAM_VALUE, name=name,
                         detail=f"must be at least {minimum}, got {value}")
    return value


def run_adjoint(json_path: str | None = None, junit_path: str | None = None,
                pattern: str | None = None, *, seed: int = 0, trials: int | None = None,
                quiet: bool = False) -> bool:
    """Check every registry entry (those whose name contains ``pattern``); print the table;
    write JSON / JUnit if asked. True when every check passes.

    ``trials`` per check (default: each entry's own, 2 or 3) is at most :data:`MAX_TRIALS`;
    ``seed`` in ``0..MAX_SEED``. Bad values and output paths that cannot be written are a
    :class:`UsageError` raised before any check runs.
    """
    from nnbridge.adjoint.registry import registry

    seed = _bounded("seed", seed, 0, MAX_SEED, "seeds are 32-bit")
    if trials is not None:
        trials = _bounded("trials", trials, 1, MAX_TRIALS, "an entry is checked with 2 or 3 "
                          "trials by default")
    check_output(json_path)
    check_output(junit_path)
    entries = registry(pattern)
    out = console()
    start = time.perf_counter()
    per_entry = []
    from rich.progress import Progress
    from rich.table import Table

    with Progress(console=out, transient=True,
                  disable=quiet or not sys.stdout.isatty()) as progress:
        task = progress.add_task("adjoint identities", total=len(entries))
        for item in entries:
            progress.update(task, description=item.name)
            per_entry.append((item.name, run_entry(item, seed, trials)))
            progress.advance(task)
    elapsed = time.perf_counter() - start
    summaries = [_summary(name, results) for name, results in per_entry]
    passed = sum(s["passed"] for s in summaries)
    ok = passed == len(summaries) and bool(summaries)
    if not quiet:
        table = Table(title="Adjoint identities <A u, v> = <u, A^T v> and JVP vs finite "
                            "differences")
        for col in ("entry", "check", "mode", "trials", "worst residual", "tolerance", "verdict"):
            table.add_column(col, overflow="fold")
        for name, results in per_entry:
            for r, _ in results:
                table.add_row(name, r.check, r.mode, str(r.trials), f"{r.worst_residual:.3g}",
                              f"{r.tolerance:.3g}",
                              f"[{verdict_style(r.passed)}]{'pass' if r.passed else 'FAIL'}[/]"
                              + ("" if r.passed else f" {r.detail}"))
        out.print(table)
        out.print(f"{passed}/{len(summaries)} entries pass, {elapsed:.2f}s")
    if json_path:
        write_json(json_path, {"passed": ok, "count": len(summaries),
                               "seconds": round(elapsed, 3), "seed": seed, "trials": trials,
                               "entries": summaries})
    if junit_path:
        _junit(junit_path, per_entry, elapsed)
    return ok


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "adjoint",
        help="check <A u, v> = <u, A^T v> and the JVPs over the whole registry",
        description="For every registry entry (layers, their linearisations, models): the "
                    "adjoint identity in exact mode (bit-equal) where it applies and in "
                    "float32/float64 (tolerance a multiple of eps * ||Au|| * ||v||), and the "
                    "JVP against central finite differences. Exit 1 on any failure, 2 on bad "
                    "input.")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("-k", "--filter", metavar="TEXT", help="only entries whose name contains TEXT")
    p.add_argument("--seed", default="0", help="first trial's seed (default 0)")
    p.add_argument("--trials", metavar="N",
                   help=f"trials per check, at most {MAX_TRIALS} (default: each entry's own)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    seed = integer_option("--seed", args.seed, minimum=0, maximum=MAX_SEED,
                          why="seeds are 32-bit")
    trials = None if args.trials is None else integer_option(
        "--trials", args.trials, minimum=1, maximum=MAX_TRIALS,
        why="an entry is checked with 2 or 3 trials by default")
    return 0 if run_adjoint(args.json, args.junit, args.filter, seed=seed,
                            trials=trials) else 1
