"""Mutation test of the proof suite, on a deterministic sample: every mutant is caught.

A sampled mutant must be killed (an obligation or a shape check fails against it) unless it
is a documented equivalent mutant (:data:`nnbridge.proofs.mutation.EQUIVALENT`). The full
run is ``nnbridge prove --mutation`` or ``python benchmarks/proof_mutation.py``.
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest
from nnbridge.proofs import engine
from nnbridge.proofs.mutation import (
    EQUIVALENT,
    load_mutant,
    mutants,
    run_mutant,
    run_mutation,
    sample,
)

SAMPLE = 20

ALL = mutants()
SAMPLED = sample(ALL, SAMPLE, seed=0)


def test_every_kind_of_change_in_every_target_and_both_semantics():
    kinds = Counter(m.change for m in ALL)
    assert set(kinds) == {"binop", "compare", "constant", "method"}, kinds
    assert {m.path for m in ALL} == {"spec/formulas.py", "spec/chains.py", "spec/domains.py",
                                     "spec/arith.py"}
    tags = Counter(m.semantics for m in ALL)
    assert tags["lean"] >= 30 and tags["torch"] >= 30, tags
    assert len({m.key for m in ALL}) == len(ALL)  # each mutant has its own name


def test_the_sites_are_size_code_not_messages():
    """Nothing inside an error message or the values it prints is mutated."""
    assert not any("need=" in m.original or "lim=" in m.original for m in ALL)
    lean = {m.key for m in ALL if m.semantics == "lean"}
    assert "spec/formulas.py:_conv_out: r.nat_sub(r.add(n, r.mul(2, p)), k) -> " \
           "r.sub(r.add(n, r.mul(2, p)), k)" in lean  # Lean's truncation dropped


def test_the_sample_is_deterministic_and_spans_both_semantics():
    assert [m.key for m in sample(ALL, SAMPLE, seed=0)] == [m.key for m in SAMPLED]
    tags = Counter(m.semantics for m in SAMPLED)
    assert tags["lean"] >= 4 and tags["torch"] >= 4, tags


def test_every_documented_equivalent_is_a_real_mutant_with_a_reason():
    keys = {m.key for m in ALL}
    for key, reason in EQUIVALENT.items():
        assert key in keys, key
        assert len(reason) > 20, key


def test_loading_a_mutant_puts_everything_back():
    from nnbridge.spec import shapes

    engine.obligations()
    before = (shapes.conv_out, dict(engine.REGISTRY), sys.modules["nnbridge.spec.formulas"])
    mutant = next(m for m in ALL if m.scope == "_conv_out" and m.change == "method")
    with load_mutant(mutant):
        import nnbridge.spec.shapes as inside

        assert inside.conv_out is not before[0]
        assert engine.REGISTRY and engine.REGISTRY != before[1]
    assert sys.modules["nnbridge.spec.formulas"] is before[2]
    import nnbridge.spec.shapes as after

    assert after.conv_out is before[0] and engine.REGISTRY == before[1]


def test_a_planted_weak_suite_lets_a_mutant_survive(monkeypatch):
    """With no obligations and no shape checks, nothing is killed: the runner itself can
    report a survivor."""
    from nnbridge.proofs import mutation

    monkeypatch.setattr(mutation, "_checks", lambda timeout_ms: [])
    result = run_mutant(SAMPLED[0])
    assert not result.killed and result.killed_by is None


@pytest.fixture(scope="module")
def report():
    """The sample, run once: the baseline first, then each mutant (recent killers first)."""
    return run_mutation(SAMPLED)


def test_the_unchanged_sources_pass_everything(report):
    """The baseline: loaded afresh the same way as a mutant, no check fails."""
    assert not report.baseline.killed, (report.baseline.killed_by, report.baseline.detail)


@pytest.mark.parametrize("index", range(len(SAMPLED)),
                         ids=[f"{m.location}-{m.replacement}" for m in SAMPLED])
def test_a_sampled_mutant_is_killed_or_documented_equivalent(report, index):
    result = report.results[index]
    mutant = result.mutant
    assert mutant is SAMPLED[index]
    assert result.killed or mutant.key in EQUIVALENT, (
        f"{mutant.location} {mutant.key} survives every obligation and shape check: add an "
        "obligation that kills it, or document it in EQUIVALENT with the reason")
    if result.killed and mutant.key not in EQUIVALENT:
        assert not result.weak, f"{mutant.key} is killed only by a solver timeout"
