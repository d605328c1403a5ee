"""The proof engine can fail: false lemmas are refuted, unknown is not a pass."""

from __future__ import annotations

import sympy as sp
import z3
from nnbridge.proofs.closed_form import derive, sympy_to_z3
from nnbridge.proofs.engine import ClosedForm, Obligation, Proof, Refutation, check, nats
from nnbridge.spec.shapes import conv_out, pool_out


def _ob(build, name="planted"):
    return Obligation(name, "planted", "a planted statement", build)


def test_false_lemma_is_refuted_with_a_real_counterexample():
    """Planted: "conv with padding 0 preserves size" (for all n, k >= 1)."""
    def build():
        (n, k), nat = nats("n k")
        return Proof([n, k], nat + [n >= 1, k >= 1], conv_out(n, k, 1, 0) == n)

    verdict = check(_ob(build))
    assert not verdict.passed and verdict.status == "refuted"
    cex = verdict.counterexample
    assert conv_out(cex["n"], cex["k"], 1, 0) != cex["n"]


def test_true_lemma_is_proved():
    def build():
        (n,), nat = nats("n")
        return Proof([n], nat + [n >= 1], conv_out(n, 3, 1, 1) == n)

    verdict = check(_ob(build))
    assert verdict.passed and verdict.status == "proved" and verdict.counterexample is None


def test_unknown_is_a_failure():
    """A nonlinear goal under a 1 ms budget: the solver gives up, and that fails."""
    def build():
        x, y, z = z3.Ints("x y z")
        return Proof([x, y, z], [x > 1, y > 1, z > 1],
                     x * x * x + y * y * y != z * z * z + 7 * x * y * z + 3, timeout_ms=1)

    verdict = check(_ob(build))
    assert not verdict.passed
    assert verdict.status in ("unknown", "refuted")


def test_refutation_with_wrong_expectation_fails():
    def build():
        (n, k), nat = nats("n k")
        return Refutation([n, k], nat + [n >= 1, k >= 1], conv_out(n, k, 1, 0) == n,
                          confirm=lambda v: "differs", expect={"n": 7, "k": 7})

    verdict = check(_ob(build))
    assert verdict.status == "refuted" and not verdict.passed
    # n = 1 is kept by every kernel (a phantom cell), so the least is n = 2, k = 2
    assert verdict.counterexample == {"n": 2, "k": 2}


def test_refutation_of_a_true_statement_fails():
    def build():
        (n,), nat = nats("n")
        return Refutation([n], nat + [n >= 1], conv_out(n, 3, 1, 1) == n,
                          confirm=lambda v: "x")

    verdict = check(_ob(build))
    assert verdict.status == "proved" and not verdict.passed


def test_refutation_not_confirmed_by_int_reading_fails():
    def build():
        (n,), nat = nats("n")
        return Refutation([n], nat, n == 5, confirm=lambda v: None)

    assert not check(_ob(build)).passed


def test_wrong_closed_form_is_refuted():
    """A stated floor(H/4) misses Lean's phantom cells below 4."""
    def build():
        (h,), nat = nats("H")
        chain = pool_out(pool_out(h, 2, 2), 2, 2)
        derived = derive(lambda m: pool_out(pool_out(m, 2, 2), 2, 2), name="H").closed
        return ClosedForm(h, nat + [h >= 1], chain, derived,
                          expect=sp.floor(sp.Symbol("H") / 4))

    verdict = check(_ob(build))
    assert verdict.status == "refuted" and verdict.counterexample["H"] < 4
    assert "floor(H/4)" in verdict.detail


def test_derive_then_translate_round_trip():
    d = derive(lambda m: pool_out(pool_out(m, 2, 2), 2, 2), name="H")
    assert d.exceptions == {1: 1, 2: 1, 3: 1} and d.period == 4
    h = z3.Int("H")
    term = sympy_to_z3(d.closed, {"H": h})
    for value in range(1, 40):
        got = z3.simplify(z3.substitute(term, (h, z3.IntVal(value)))).as_long()
        assert got == pool_out(pool_out(value, 2, 2), 2, 2)


def test_builder_error_is_reported_not_raised():
    def build():
        raise RuntimeError("boom")

    verdict = check(_ob(build))
    assert verdict.status == "error" and "boom" in verdict.detail and not verdict.passed
