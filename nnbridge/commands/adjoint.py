"""``nnbridge adjoint``: run the adjoint identity and JVP checks over the whole registry, or
over a user's module of entries (``--entries PATH.py|package.module``)."""

from __future__ import annotations

import argparse
import sys
import time

from nnbridge.commands import add_command, integer_option
from nnbridge.report import check_output, console, verdict_style, write_json, write_output
from nnbridge.spec.errors import Rule, UsageError

__all__ = ["MAX_SEED", "MAX_TRIALS", "register", "run_adjoint", "run_entry"]

#: The most trials per check ``--trials`` may ask for (entries default to 2 or 3).
MAX_TRIALS = 1000

#: The largest first seed (a 32-bit seed; trial ``t`` uses ``seed + t``).
MAX_SEED = 2**32 - 1

#: The most ``--entries`` modules one run loads.
MAX_ENTRY_MODULES = 64


def run_entry(item, seed: int = 0, trials: int | None = None) -> list:
    """Every check that applies to one registry entry (:func:`nnbridge.adjoint.runner.
    run_entry`): ``[(CheckResult, seconds), ...]``."""
    from nnbridge.adjoint.runner import run_entry as run

    return run(item, seed, trials)


def _finite(value: float):
    """JSON has no infinity: a non-finite residual is written as the string "inf"/"nan"."""
    return value if value == value and abs(value) != float("inf") else str(value)


def _summary(name: str, results: list) -> dict:
    """One JSON object per registry entry: the headline adjoint check (exact where the entry
    is exact, else float64), ``passed`` over all its checks, and every check under ``checks``."""
    checks = [r for r, _ in results]
    adjoint = [r for r in checks if r.check == "adjoint" and r.applicable]
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
        elif not r.applicable:
            ET.SubElement(case, "skipped", message=f"does not apply: {r.detail}"[:500])
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


def _load(entries) -> list:
    """The entries the modules named in ``entries`` (a string or a sequence) declare."""
    from nnbridge.adjoint.user_entries import load_entries

    specs = [entries] if isinstance(entries, str) else list(entries)
    if len(specs) > MAX_ENTRY_MODULES:
        raise UsageError(Rule.WORK_LIMIT, name="--entries", value=len(specs),
                         limit=MAX_ENTRY_MODULES, detail="modules of entries in one run")
    found: dict = {}
    for spec in specs:
        for item in load_entries(spec):
            found.setdefault(item.name, item)
    return list(found.values())


def run_adjoint(json_path: str | None = None, junit_path: str | None = None,
                pattern: str | None = None, *, seed: int = 0, trials: int | None = None,
                quiet: bool = False, entries=None) -> bool:
    """Check every registry entry (those whose name contains ``pattern``); print the table;
    write JSON / JUnit if asked. True when every check passes.

    ``entries`` (a ``path/to/file.py`` or ``package.module``, or a list of them) checks the
    entries those modules declare instead of nnbridge's own registry. ``trials`` per check
    (default: each entry's own, 2 or 3) is at most :data:`MAX_TRIALS`; ``seed`` in
    ``0..MAX_SEED``. Bad values, output paths that cannot be written and modules that do
    not load are a :class:`UsageError` raised before any check runs.
    """
    from nnbridge.adjoint.registry import registry

    seed = _bounded("seed", seed, 0, MAX_SEED, "seeds are 32-bit")
    if trials is not None:
        trials = _bounded("trials", trials, 1, MAX_TRIALS, "an entry is checked with 2 or 3 "
                          "trials by default")
    check_output(json_path)
    check_output(junit_path)
    if entries is None:
        entries = registry(pattern)
    else:
        entries = [e for e in _load(entries) if pattern is None or pattern in e.name]
    out = console()
    start = time.perf_counter()
    per_entry = []
    from rich.markup import escape
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
                              "n/a " + escape(r.detail) if not r.applicable else
                              f"[{verdict_style(r.passed)}]{'pass' if r.passed else 'FAIL'}[/]"
                              + ("" if r.passed else f" {escape(r.detail)}"))
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
        help="check <A u, v> = <u, A^T v> and the JVPs over the whole registry, or over "
             "your own entries (--entries)",
        description="For every registry entry (layers, their linearisations, models), or "
                    "every entry of your modules (--entries): the adjoint identity in exact "
                    "mode (bit-equal) where it applies and in float32/float64 (tolerance a "
                    "multiple of eps * ||Au|| * ||v||), and the JVP against central finite "
                    "differences. Exit 1 on any failure, 2 on bad input.")
    p.add_argument("--entries", metavar="MODULE", action="append",
                   help="a path/to/file.py or package.module declaring entries (torch_entry, "
                        "numpy_entry, @entry); check those instead of nnbridge's registry "
                        "(repeatable)")
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
                            trials=trials, entries=args.entries) else 1
