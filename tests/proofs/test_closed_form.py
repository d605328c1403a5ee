"""Closed forms are stated: the statement prints the very form the engine checks, Z3 proves
it equal to the chain, and SymPy's derived form must be the same."""

from __future__ import annotations

import pytest
import sympy as sp
from nnbridge.proofs.closed_form import derive, describe, size_symbol
from nnbridge.proofs.engine import REGISTRY, ClosedForm, Obligation, check, nats, obligation
from nnbridge.spec.shapes import pool_out

H = size_symbol("H")
STATED = sp.Piecewise((1, H < 4), (sp.floor(H / 4), True))  # poolOut(poolOut(H, 2, 2), 2, 2)


def _chain(m):
    return pool_out(pool_out(m, 2, 2), 2, 2)


def _closed(closed, expect):
    def build():
        (h,), nat = nats("H")
        return ClosedForm(h, nat + [h >= 1], _chain(h), closed, expect)

    return check(Obligation("planted_closed_form", "planted", "planted", build))


def test_describe_reads_like_the_statement():
    assert describe(STATED) == "1 for H < 4, else floor(H/4)"
    assert describe(sp.Piecewise((7, sp.Eq(H, 3)), (H, True))) == "7 for H = 3, else H"
    assert describe(2 * sp.floor(H / 2)) == "2*floor(H/2)"


def test_stated_and_derived_agree_structurally():
    derived = derive(_chain, name="H").closed
    assert derived == STATED  # same symbols as derive's: size_symbol
    verdict = _closed(derived, STATED)
    assert verdict.passed and "SymPy derives the same form" in verdict.detail
    assert [q.label for q in verdict.queries] == ["hypotheses", "closed_form"]


def test_stated_and_derived_may_differ_in_form_if_proved_equal():
    """floor(H/4) + (1 if H < 4) written another way: Z3 proves the two forms equal."""
    other = sp.Max(sp.floor(H / 4), 1)
    verdict = _closed(other, STATED)
    assert verdict.passed and "proved equal" in verdict.detail
    assert verdict.queries[-1].label == "derived_form"


def test_a_derived_form_that_differs_from_the_stated_one_fails_with_both():
    """The statement is right, but what SymPy derived is not the stated form: a mismatch."""
    wrong_derivation = sp.floor(H / 4)
    verdict = _closed(wrong_derivation, STATED)
    assert verdict.status == "mismatch" and not verdict.passed
    assert "stated 1 for H < 4, else floor(H/4)" in verdict.detail
    assert "SymPy derives floor(H/4)" in verdict.detail
    assert verdict.counterexample["H"] < 4


def test_a_wrong_statement_is_refuted_even_when_sympy_agrees_with_it():
    wrong = sp.floor(H / 4)
    verdict = _closed(wrong, wrong)
    assert verdict.status == "refuted" and not verdict.passed


def test_a_closed_form_with_nothing_stated_fails():
    verdict = _closed(derive(_chain, name="H").closed, None)
    assert verdict.status == "unstated" and not verdict.passed
    assert "expect=" in verdict.detail


def test_obligation_prints_its_stated_form_and_checks_that_object():
    try:
        @obligation("planted_closed", expect=STATED)
        def planted_pool_pool_closed_form():
            """poolOut(poolOut(H, 2, 2), 2, 2) is {expect} for all H >= 1."""
            (h,), nat = nats("H")
            return ClosedForm(h, nat + [h >= 1], _chain(h), derive(_chain, name="H").closed)

        ob = REGISTRY["planted_pool_pool_closed_form"]
        assert ob.statement == ("poolOut(poolOut(H, 2, 2), 2, 2) is 1 for H < 4, else "
                                "floor(H/4) for all H >= 1.")
        assert ob.expect is STATED
        assert "is 1 for H < 4, else floor(H/4)" in planted_pool_pool_closed_form.__doc__
        verdict = check(ob)  # the builder states nothing itself: the obligation's form is used
        assert verdict.passed, verdict.detail
    finally:
        REGISTRY.pop("planted_pool_pool_closed_form", None)


def test_a_builder_checking_another_form_than_its_statement_is_an_error():
    ob = Obligation("planted", "planted", "states one form", lambda: ClosedForm(
        nats("H")[0][0], [], _chain(nats("H")[0][0]), STATED, sp.floor(H / 4)), expect=STATED)
    verdict = check(ob)
    assert verdict.status == "error" and "the statement states" in verdict.detail


def test_a_stated_form_must_appear_in_the_statement():
    with pytest.raises(ValueError, match="must appear in its statement"):
        @obligation("planted_closed", expect=STATED)
        def planted_without_placeholder():
            """A statement that does not print its form."""


@pytest.mark.parametrize("name", ["cnn2_feat_h_closed_form", "cnn2_feat_w_closed_form",
                                  "resnet_pool_closed_form", "unet2_default_up_closed_form"])
def test_every_shape_closed_form_is_stated_in_its_statement(name):
    from nnbridge.proofs.engine import obligations

    obligations()
    ob = REGISTRY[name]
    assert ob.expect is not None and describe(ob.expect) in ob.statement
    verdict = check(ob)
    assert verdict.passed and "SymPy derives the same form" in verdict.detail


def test_fit_from_ints_gives_derives_form():
    """``fit`` reads the same form from int values alone as ``derive`` from the SymPy chain."""
    from nnbridge.proofs.closed_form import derive, fit
    from nnbridge.spec.shapes import conv_out, pool_out

    def chain(m):
        return pool_out(conv_out(m, 3, 1, 0), 2, 2)

    derived = derive(chain, lower=4)
    fitted = fit(lambda m: int(chain(m)), derived.period, lower=4)
    assert fitted.closed == derived.closed
    for m in range(4, 60):
        assert int(fitted.closed.subs(fitted.closed.free_symbols.pop(), m)) == chain(m)


def test_fit_refuses_a_chain_that_is_not_eventually_linear():
    from nnbridge.proofs.closed_form import fit

    with pytest.raises(ValueError, match="no closed form"):
        fit(lambda m: m * m, 2)
