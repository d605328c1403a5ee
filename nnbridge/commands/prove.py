"""``nnbridge prove``: discharge every shape proof obligation and print the verdict table."""

from __future__ import annotations

import argparse
import time

from nnbridge.commands import add_command
from nnbridge.report import check_output, console, verdict_style, write_json
from nnbridge.spec.errors import Rule, UsageError

__all__ = ["register", "run_prove"]


def _cex(verdict) -> str:
    if not verdict.counterexample:
        return ""
    return ", ".join(f"{k}={v}" for k, v in verdict.counterexample.items())


def run_prove(json_path: str | None = None, family: str | None = None, *,
              quiet: bool = False) -> bool:
    """Check every obligation (of one family if given); print the table; True if all pass.

    An unknown family or a ``json_path`` that cannot be written is a :class:`UsageError`
    raised before any proof runs.
    """
    from nnbridge.proofs.engine import check, obligations

    check_output(json_path)
    found = obligations(family)
    if not found:
        known = sorted({ob.family for ob in obligations()})
        raise UsageError(Rule.UNKNOWN_NAME, kind="obligation family", name=family,
                         known=", ".join(known))
    start = time.perf_counter()
    verdicts = [check(ob) for ob in found]
    elapsed = time.perf_counter() - start
    passed = sum(v.passed for v in verdicts)
    if not quiet:
        from rich.table import Table

        table = Table(title="Shape proof obligations", show_lines=False)
        for col in ("family", "obligation", "statement", "verdict", "time", "counterexample"):
            table.add_column(col, overflow="fold")
        for v in verdicts:
            word = {"proved": "proved", "refuted": "refuted"}.get(v.status, v.status)
            if v.kind == "refutation" and v.passed:
                word = "refuted (as stated)"
            table.add_row(v.family, v.name, v.statement, f"[{verdict_style(v.passed)}]{word}[/]",
                          f"{v.seconds:.2f}s", _cex(v) + (f" ({v.detail})" if v.detail
                                                            and not v.passed else ""))
        out = console()
        out.print(table)
        out.print(f"{passed}/{len(verdicts)} obligations hold, {elapsed:.2f}s")
    if json_path:
        write_json(json_path, {"passed": passed == len(verdicts), "count": len(verdicts),
                               "seconds": round(elapsed, 3),
                               "obligations": [v.as_dict() for v in verdicts]})
    return passed == len(verdicts)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, "prove",
                    help="discharge the shape proof obligations (Z3, SymPy)",
                    description="Prove every shape obligation for all sizes; exit 1 if any "
                                "is refuted, unknown or times out; exit 2 on bad input.")
    p.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON")
    p.add_argument("--family", help="only this family (conv, pool, unet2, ...)")
    p.set_defaults(func=lambda args: 0 if run_prove(args.json, args.family) else 1)
