"""``nnbridge prove``: discharge every shape proof obligation and print the verdict table.

``--smtlib DIR`` also writes every solver query as SMT-LIB 2 and has cvc5 re-decide it (the
two solvers must agree); ``--mutation`` runs the mutation test of the proof suite instead.
"""

from __future__ import annotations

import argparse
import time

from nnbridge.commands import add_command, integer_option
from nnbridge.report import check_output, console, verdict_style, write_json
from nnbridge.spec.errors import Rule, UsageError

__all__ = ["register", "run_mutation_command", "run_prove"]

#: The most mutants ``--mutation-sample`` asks for (there are a few hundred in all).
MAX_MUTATION_SAMPLE = 100_000


def _cex(verdict) -> str:
    if not verdict.counterexample:
        return ""
    return ", ".join(f"{k}={v}" for k, v in verdict.counterexample.items())


def _word(verdict) -> str:
    if verdict.kind == "refutation" and verdict.passed:
        return "refuted (as stated)"
    return verdict.status


def _all(family: str | None) -> list:
    """The engine's registered obligations and the UNet presets' stated rules (family
    ``unet_rules``, proved by the same engine)."""
    from nnbridge.proofs.engine import obligations
    from nnbridge.unet.stated import stated_obligations

    found = obligations(family)
    if family in (None, "unet_rules"):
        found += stated_obligations()
    return found


def run_prove(json_path: str | None = None, family: str | None = None, *,
              quiet: bool = False, smtlib: str | None = None) -> bool:
    """Check every obligation (of one family if given); print the table; True if all pass.

    With ``smtlib`` (a folder) every query is written there as ``.smt2`` and re-decided by
    cvc5; a disagreement or a cvc5 ``unknown`` fails its obligation. An unknown family, a
    ``json_path`` or folder that cannot be written, or cvc5 missing, is a
    :class:`UsageError` raised before any proof runs.
    """
    from nnbridge.proofs.engine import check

    check_output(json_path)
    if smtlib is not None:
        from nnbridge.proofs.smtlib import check_folder, cvc5_available

        check_folder(smtlib)
        if not cvc5_available():
            raise UsageError(Rule.CLI_USAGE, detail="--smtlib re-checks every query with "
                             "cvc5, which is not installed", fix="pip install cvc5")
    found = _all(family)
    if not found:
        known = sorted({ob.family for ob in _all(None)})
        raise UsageError(Rule.UNKNOWN_NAME, kind="obligation family", name=family,
                         known=", ".join(known))
    start = time.perf_counter()
    verdicts = [check(ob) for ob in found]
    summary = ""
    if smtlib is not None:
        from nnbridge.proofs.smtlib import cross_check, write_queries

        written = write_queries(verdicts, smtlib)
        for v in verdicts:
            cross_check(v)
        queries = [q for v in verdicts for q in v.queries]
        agree = sum(q.cvc5 == q.z3 for q in queries)
        unknown = sum(q.cvc5 in ("unknown", "error") for q in queries)
        summary = (f"; Z3 and cvc5 agree on {agree}/{len(queries)} queries ({unknown} cvc5 "
                   f"unknown, {len(queries) - agree - unknown} disagree), {len(written)} "
                   f".smt2 files in {smtlib}")
    elapsed = time.perf_counter() - start
    passed = sum(v.passed for v in verdicts)
    if not quiet:
        from rich.table import Table

        table = Table(title="Shape proof obligations", show_lines=False)
        for col in ("family", "obligation", "statement", "verdict", "time", "solver",
                    "counterexample"):
            table.add_column(col, overflow="fold")
        for v in verdicts:
            table.add_row(v.family, v.name, v.statement,
                          f"[{verdict_style(v.passed)}]{_word(v)}[/]", f"{v.seconds:.2f}s",
                          v.solver, _cex(v) + (f" ({v.detail})" if v.detail and not v.passed
                                               else ""))
        out = console()
        out.print(table)
        out.print(f"{passed}/{len(verdicts)} obligations hold, {elapsed:.2f}s{summary}")
    if json_path:
        write_json(json_path, {"passed": passed == len(verdicts), "count": len(verdicts),
                               "seconds": round(elapsed, 3),
                               "obligations": [v.as_dict() for v in verdicts]})
    return passed == len(verdicts)


def run_mutation_command(json_path: str | None = None, sample_size: int | None = None, *,
                         quiet: bool = False) -> bool:
    """Mutation-test the proof suite (all mutants, or a deterministic sample); print the
    kill rate and every survivor; True when each survivor is a documented equivalent one."""
    from nnbridge.proofs.mutation import mutants, run_mutation, sample

    check_output(json_path)
    found = mutants()
    selected = found if sample_size is None else sample(found, sample_size)
    report = run_mutation(selected)
    facts = report.as_dict()
    if not quiet:
        out = console()
        if report.baseline is not None and report.baseline.killed:
            out.print(f"[bold red]the unchanged sources fail[/] {report.baseline.killed_by}: "
                      f"{report.baseline.detail}")
        out.print(f"{report.killed}/{len(report.results)} mutants killed "
                  f"({100 * report.kill_rate:.1f}%) of {len(found)} in all, "
                  f"{report.seconds:.1f}s")
        for tag, row in facts["by_semantics"].items():
            out.print(f"  {tag}: {row['killed']}/{row['mutants']} killed")
        for r in report.survivors:
            why = (f"[green]equivalent[/]: {r.equivalent}" if r.equivalent
                   else "[bold red]survives[/]")
            out.print(f"  {r.mutant.location} ({r.mutant.scope}) {r.mutant.original} -> "
                      f"{r.mutant.mutated}: {why}")
    if json_path:
        write_json(json_path, facts)
    return facts["passed"]


def _run(args) -> int:
    if args.mutation:
        if args.family or args.smtlib:
            raise UsageError(Rule.CLI_USAGE, detail="--mutation runs every obligation against "
                             "every mutant; it takes neither --family nor --smtlib")
        size = None if args.mutation_sample is None else integer_option(
            "--mutation-sample", args.mutation_sample, minimum=1, maximum=MAX_MUTATION_SAMPLE,
            why="there are a few hundred mutants in all")
        return 0 if run_mutation_command(args.json, size) else 1
    if args.mutation_sample is not None:
        raise UsageError(Rule.CLI_USAGE, detail="--mutation-sample needs --mutation")
    return 0 if run_prove(args.json, args.family, smtlib=args.smtlib) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, "prove",
                    help="discharge the shape proof obligations (Z3, SymPy)",
                    description="Prove every shape obligation for all sizes; exit 1 if any "
                                "is refuted, vacuous, unknown or times out; exit 2 on bad "
                                "input.")
    p.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON")
    p.add_argument("--family", help="only this family (conv, pool, unet2, ...)")
    p.add_argument("--smtlib", metavar="DIR",
                   help="write every solver query to DIR as SMT-LIB 2 and re-check it with "
                        "cvc5; the two solvers must agree")
    p.add_argument("--mutation", action="store_true",
                   help="mutation-test the proof suite: every mutant of the shape formulas "
                        "must fail an obligation or a shape check")
    p.add_argument("--mutation-sample", metavar="N",
                   help="with --mutation: a deterministic sample of N mutants")
    p.set_defaults(func=_run)
