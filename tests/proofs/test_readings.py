"""The concrete shape checks hold on the sources, and catch planted defects in a reading."""

from __future__ import annotations

from nnbridge.proofs import readings
from nnbridge.proofs.arith import arith_floor_div_bounds, arith_nat_sub_truncates
from nnbridge.proofs.engine import Obligation, check
from nnbridge.spec.arith import IntReading, SymPyReading, Z3Reading


def test_the_checks_hold_on_the_sources():
    for name, run in readings.CHECKS.items():
        assert run() == [], name


def test_an_int_reading_without_lean_truncation_is_caught(monkeypatch):
    """Planted: the int reading's nat_sub forgets to truncate at 0."""
    monkeypatch.setattr(IntReading, "nat_sub", lambda self, a, b: a - b)
    found = readings.operations_disagree()
    assert any(f.startswith("nat_sub(0, 1): int -1") for f in found), found[:3]


def test_a_sympy_reading_off_by_one_is_caught(monkeypatch):
    """Planted: the SymPy reading's floor division rounds up (ceiling)."""
    import sympy as sp

    monkeypatch.setattr(SymPyReading, "floor_div",
                        lambda self, a, b: sp.ceiling(sp.sympify(a) / b))
    found = readings.operations_disagree()
    assert any("SymPy" in f and f.startswith("floor_div") for f in found)


def test_a_z3_reading_that_folds_ints_wrongly_is_caught(monkeypatch):
    """Planted: the Z3 reading's shortcut for two ints divides the wrong way round."""
    original = Z3Reading.floor_div

    def planted(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return b // a if a else 0
        return original(self, a, b)

    monkeypatch.setattr(Z3Reading, "floor_div", planted)
    found = readings.operations_disagree()
    assert any("Z3 0" in f for f in found) and not any("Z3 3" in f for f in found)


def test_a_wrong_z3_reading_is_refuted_by_the_arith_obligations(monkeypatch):
    """Planted: floor division read as ceiling division in Z3: its obligation is refuted."""
    monkeypatch.setattr(Z3Reading, "floor_div", lambda self, a, b: -((-a) / b))
    verdict = check(Obligation("arith_floor_div_bounds", "arith", "", arith_floor_div_bounds))
    assert verdict.status == "refuted" and not verdict.passed


def test_a_nat_sub_that_does_not_truncate_is_refuted(monkeypatch):
    monkeypatch.setattr(Z3Reading, "nat_sub", lambda self, a, b: a - b)
    verdict = check(Obligation("arith_nat_sub_truncates", "arith", "", arith_nat_sub_truncates))
    assert verdict.status == "refuted" and "(part nonneg)" in verdict.detail
    assert verdict.counterexample["a"] < verdict.counterexample["b"]


def test_a_documented_value_that_changes_is_caught(monkeypatch):
    monkeypatch.setattr(readings, "DOCUMENTED", [("a value", lambda: 3, 4)])
    assert readings.documented_values_fail() == ["a value: expected 4, got 3"]
