"""Mutation test of the proof suite: every mutant of the shape formulas, against every check.

Each mutant (one operator or integer constant changed in ``spec/formulas.py``,
``spec/chains.py``, ``spec/domains.py`` or ``spec/arith.py``; see
:mod:`nnbridge.proofs.mutation`) is loaded in place of its module; all proof obligations run,
then the concrete shape checks; the first failure kills it. First the unchanged sources run
the same way (the baseline: everything must pass).

Writes benchmarks/results/proof_mutation.json (the kill rate, per semantics, every mutant
with what killed it, and each survivor with its documented reason when it is equivalent)
and prints the survivors.

    python benchmarks/proof_mutation.py [--sample N] [--timeout-ms MS]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "proof_mutation.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=None,
                        help="a deterministic sample of N mutants (default: all)")
    parser.add_argument("--timeout-ms", type=int, default=5_000,
                        help="cap on every solver call (a timeout kills the mutant)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import sympy
    import z3
    from nnbridge.proofs.mutation import mutants, run_mutation, sample

    found = mutants()
    selected = found if args.sample is None else sample(found, args.sample)

    def progress(i, total, result):
        word = f"killed by {result.killed_by} ({result.status})" if result.killed \
            else "SURVIVES" + (" (equivalent)" if result.equivalent else "")
        print(f"[{i}/{total}] {result.seconds:5.1f}s {result.mutant.location} "
              f"{result.mutant.original} -> {result.mutant.mutated}: {word}", flush=True)

    report = run_mutation(selected, timeout_ms=args.timeout_ms, progress=progress)
    facts = report.as_dict()
    facts["meta"] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "z3": z3.get_version_string(),
        "sympy": sympy.__version__, "machine": platform.machine(),
        "timeout_ms": args.timeout_ms, "sample": args.sample, "mutants_in_all": len(found),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    print(f"\n{report.killed}/{len(report.results)} killed ({100 * report.kill_rate:.1f}%), "
          f"{len(report.survivors)} survivors ({len(report.unexplained)} unexplained), "
          f"{report.seconds:.0f}s; baseline "
          f"{'FAILS ' + str(report.baseline.killed_by) if report.baseline.killed else 'passes'}")
    for r in report.survivors:
        print(f"  {r.mutant.location} [{r.mutant.semantics}] {r.mutant.key}"
              + (f"\n      equivalent: {r.equivalent}" if r.equivalent else "  <- a gap"))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if facts["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
