"""A second solver: every query as SMT-LIB 2, re-decided by cvc5; the two must agree.

The cross-check of every obligation runs Z3 and then cvc5 on each of its queries (about 600
in all); it is the slowest test here, about 20-30 s on two cores, one test per family.
"""

from __future__ import annotations

import pytest
import z3
from nnbridge.proofs.engine import Obligation, Proof, Query, Verdict, check, nats, obligations
from nnbridge.proofs.smtlib import (
    check_folder,
    cross_check,
    cvc5_decide,
    file_name,
    smt2,
    write_queries,
)
from nnbridge.spec.errors import UsageError
from nnbridge.spec.shapes import conv_out

pytest.importorskip("cvc5")

def _ob(build, name="planted"):
    return Obligation(name, "planted", "a planted statement", build)


def _families():
    return sorted({ob.family for ob in obligations()})


@pytest.mark.parametrize("family", _families())
def test_cvc5_agrees_with_z3_on_every_query(family):
    """Both solvers decide every query of every obligation alike (sat/unsat)."""
    undecided, disagree, total = [], [], 0
    for ob in obligations(family):
        verdict = check(ob)
        assert verdict.passed, (ob.name, verdict.detail)
        assert verdict.queries, ob.name
        cross_check(verdict)
        assert verdict.solver == "z3+cvc5"
        for q in verdict.queries:
            total += 1
            if q.cvc5 not in ("sat", "unsat"):
                undecided.append((ob.name, q.label))
            elif q.cvc5 != q.z3:
                disagree.append((ob.name, q.label, q.z3, q.cvc5))
    assert not disagree
    assert not undecided  # cvc5's unknown fails the obligation (test_cvc5_unknown_fails...)
    print(f"{family}: {total - len(undecided)}/{total} queries agree, {len(undecided)} "
          "undecided by cvc5")


def test_a_disagreement_fails_the_obligation():
    """A query recorded as unsat that is satisfiable (a planted solver bug) is caught."""
    n = z3.Int("n")
    planted = Query("claim", [n >= 1, n <= 3], "unsat", 0.0)
    verdict = Verdict("planted", "planted", "s", "proof", "proved", True, 0.0,
                      queries=[planted])
    cross_check(verdict)
    assert verdict.status == "disagree" and not verdict.passed
    assert "Z3 unsat, cvc5 sat" in verdict.detail


def test_a_wrong_model_is_caught():
    """A sat answer is checked with its model pinned: a model that does not satisfy the
    assertions is refuted by cvc5."""
    n = z3.Int("n")
    planted = Query("claim", [n >= 5], "sat", 0.0, model=[n == 2])
    verdict = Verdict("planted", "planted", "s", "proof", "refuted", False, 0.0,
                      queries=[planted])
    cross_check(verdict)
    assert planted.cvc5 == "unsat" and verdict.status == "refuted"
    assert "solvers disagree" in verdict.detail


def test_cvc5_unknown_fails_the_obligation():
    """A nonlinear query under a tiny resource limit: cvc5's unknown is a failure."""
    x, y, z = z3.Ints("x y z")
    hard = Query("claim", [x > 1, y > 1, z > 1, x * x * x + y * y * y == z * z * z + 7 * x * y],
                 "unsat", 0.0)
    verdict = Verdict("planted", "planted", "s", "proof", "proved", True, 0.0, queries=[hard])
    cross_check(verdict, timeout_ms=2_000, resource_limit=1_000)
    assert hard.cvc5 == "unknown"
    assert verdict.status == "unknown" and not verdict.passed


def test_integer_division_means_the_same_in_both_solvers():
    """Z3's / and % on integers are SMT-LIB's div and mod (Euclidean): -7 div 2 = -4,
    -7 div -2 = 4, -7 mod -2 = 1, and b*(a div b) + a mod b = a with 0 <= a mod b < |b|."""
    a, b = z3.Ints("a b")
    facts = [z3.IntVal(-7) / 2 == -4, z3.IntVal(-7) / -2 == 4, z3.IntVal(-7) % -2 == 1,
             z3.Implies(b != 0, z3.And(b * (a / b) + a % b == a, a % b >= 0,
                                       a % b < z3.If(b > 0, b, -b)))]
    for fact in facts:
        s = z3.Solver()
        s.add(z3.Not(fact))
        assert s.check() == z3.unsat
        query = Query("fact", [z3.Not(fact)], "unsat", 0.0)
        assert cvc5_decide(smt2(query)) == "unsat", fact


def test_the_script_is_smtlib_with_its_verdict():
    def build():
        (n,), nat = nats("n")
        out = conv_out(n, 3, 1, 1)
        return Proof([n], nat + [n >= 1], out == n, subjects=[out])

    verdict = check(_ob(build))
    claim = next(q for q in verdict.queries if q.label == "claim")
    text = smt2(claim, "planted")
    assert text.splitlines()[1] == "(set-logic ALL)"
    assert "(set-info :status unsat)" in text and text.rstrip().endswith("(check-sat)")
    assert "(declare-fun n () Int)" in text
    free = next(q for q in verdict.queries if q.label == "subject1")
    assert free.z3 == "sat" and free.model and "model" in smt2(free).splitlines()[0]


def test_write_queries_writes_one_file_per_query(tmp_path):
    verdicts = [check(ob) for ob in obligations("preservation")]
    written = write_queries(verdicts, tmp_path)
    assert len(written) == sum(len(v.queries) for v in verdicts)
    assert len({p.name for p in written}) == len(written)
    assert (tmp_path / "conv3x3_outSize_eq.claim.smt2").exists()
    for path in written:
        text = path.read_text()
        assert text.splitlines()[1] == "(set-logic ALL)"
        assert cvc5_decide(text) in ("sat", "unsat")


def test_file_names_keep_only_safe_characters():
    query = Query("claim.complete: n = Q*k, n >= t/d", [], "unsat", 0.0)
    name = file_name("ob", query)
    assert name.endswith(".smt2") and "/" not in name and " " not in name


@pytest.mark.parametrize("bad", ["/proc/nnbridge/smt", ""])
def test_a_folder_that_cannot_be_written_is_refused(bad):
    with pytest.raises(UsageError) as info:
        check_folder(bad)
    assert info.value.rule == "output_path"


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    target = tmp_path / "file.smt2"
    target.write_text("x")
    with pytest.raises(UsageError, match="it is a file"):
        check_folder(target)
