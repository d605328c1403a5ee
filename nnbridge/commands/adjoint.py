"""``nnbridge adjoint``: run the adjoint identity and JVP checks over the whole registry."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from xml.etree import ElementTree as ET

from rich.progress import Progress
from rich.table import Table

from nnbridge.report import console, verdict_style, write_json

__all__ = ["register", "run_adjoint", "run_entry"]


def run_entry(item, seed: int = 0) -> list:
    """Every check that applies to one registry entry: exact (if the entry is exact),
    float32, float64 adjoint identities, then the finite-difference JVP check."""
    from nnbridge.adjoint.check import CheckResult, check_adjoint, check_jvp

    plans = [("adjoint", m) for m in (("exact",) if item.exact else ()) + ("float32", "float64")]
    if item.fd:
        plans.append(("jvp", "fd"))
    results = []
    for check, mode in plans:
        start = time.perf_counter()
        try:
            result = (check_adjoint(item, mode, seed=seed) if check == "adjoint"
                      else check_jvp(item, seed=seed))
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
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def run_adjoint(json_path: str | None = None, junit_path: str | None = None,
                pattern: str | None = None, *, seed: int = 0, quiet: bool = False) -> bool:
    """Check every registry entry (those whose name contains ``pattern``); print the table;
    write JSON / JUnit if asked. True when every check passes."""
    from nnbridge.adjoint.registry import registry

    entries = registry(pattern)
    out = console()
    start = time.perf_counter()
    per_entry = []
    with Progress(console=out, transient=True,
                  disable=quiet or not sys.stdout.isatty()) as progress:
        task = progress.add_task("adjoint identities", total=len(entries))
        for item in entries:
            progress.update(task, description=item.name)
            per_entry.append((item.name, run_entry(item, seed)))
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
                               "seconds": round(elapsed, 3), "seed": seed,
                               "entries": summaries})
    if junit_path:
        _junit(junit_path, per_entry, elapsed)
    return ok


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "adjoint", help="check <A u, v> = <u, A^T v> and the JVPs over the whole registry",
        description="For every registry entry (layers, their linearisations, models): the "
                    "adjoint identity in exact mode (bit-equal) where it applies and in "
                    "float32/float64 (tolerance a multiple of eps * ||Au|| * ||v||), and the "
                    "JVP against central finite differences. Exit 1 on any failure.")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("-k", "--filter", metavar="TEXT", help="only entries whose name contains TEXT")
    p.add_argument("--seed", type=int, default=0, help="first trial's seed (default 0)")
    p.set_defaults(func=lambda args: 0 if run_adjoint(args.json, args.junit, args.filter,
                                                      seed=args.seed) else 1)
