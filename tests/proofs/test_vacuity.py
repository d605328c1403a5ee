"""Vacuous obligations are refused: planted ones of each kind come back "vacuous", failed."""

from __future__ import annotations

import z3
from nnbridge.proofs.cnn2 import DEFAULT as CNN2_DEFAULT
from nnbridge.proofs.cnn2 import cnn2_feat_shape_at_28
from nnbridge.proofs.engine import (
    REGISTRY,
    ClosedForm,
    Obligation,
    Proof,
    Refutation,
    check,
    nats,
    obligation,
    obligations,
)
from nnbridge.spec.shapes import CNN2Config, conv_out, pool_h2, pool_w2


def _ob(build, name="planted"):
    return Obligation(name, "planted", "a planted statement", build)


def _conv():
    (n, k, s, p), nat = nats("n k s p")
    return (n, k, s, p), nat + [n >= 1, k >= 1, s >= 1], conv_out(n, k, s, p)


# -- (a) hypotheses that no value satisfies ------------------------------------------------
def test_unsatisfiable_hypotheses_make_a_proof_vacuous():
    """n >= 1 and n + 2p < k and p >= k: nothing satisfies them, so any claim "holds"."""
    def build():
        (n, k, s, p), hyps, out = _conv()
        return Proof([n, k, s, p], hyps + [n + 2 * p < k, p >= k], out == 12345)

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and not verdict.passed
    assert "hypotheses are unsatisfiable" in verdict.detail
    assert [q.label for q in verdict.queries] == ["hypotheses"]  # the claim is not even tried


def test_unsatisfiable_hypotheses_make_a_refutation_vacuous():
    def build():
        (n,), nat = nats("n")
        return Refutation([n], nat + [n < 0], n == 5, confirm=lambda v: "x")

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and not verdict.passed


def test_unsatisfiable_hypotheses_make_a_closed_form_vacuous():
    def build():
        (h,), nat = nats("H")
        chain = pool_h2(CNN2_DEFAULT, h)
        from nnbridge.proofs.cnn2 import FEAT_H
        return ClosedForm(h, nat + [h >= 1, h <= 0], chain, FEAT_H, FEAT_H)

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and not verdict.passed


# -- (b) a claim that holds whatever its subject is ----------------------------------------
def test_a_tautology_about_the_formula_is_vacuous():
    """"conv_out == n or conv_out != n" is true, and says nothing about conv_out."""
    def build():
        xs, hyps, out = _conv()
        return Proof(xs, hyps, z3.Or(out == xs[0], out != xs[0]), subjects=[out])

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and not verdict.passed
    assert "subject #1" in verdict.detail and "unconstrained" in verdict.detail


def test_an_implication_that_never_fires_is_vacuous():
    """The premise n + 2p < 0 never holds of naturals, so the conclusion is never tested."""
    def build():
        xs, hyps, out = _conv()
        n, k, s, p = xs
        return Proof(xs, hyps, z3.Implies(n + 2 * p < 0, out == 99), subjects=[out])

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and not verdict.passed


def test_the_same_formula_on_both_sides_is_vacuous():
    """The shape of the old CNN2 check: (poolH2 = 7) == (poolH2 = 7) compares a formula with
    itself; replacing it by a free value keeps it true."""
    def build():
        (h,), nat = nats("H")
        ph = pool_h2(CNN2_DEFAULT, h)
        return Proof([h], nat + [h == 28], (ph == 7) == (ph == 7), subjects=[ph])

    assert check(_ob(build)).status == "vacuous"


def test_a_subject_missing_from_the_claim_is_vacuous():
    def build():
        xs, hyps, out = _conv()
        return Proof(xs, hyps, xs[0] >= 1, subjects=[out])

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and "occurs in no part" in verdict.detail


def test_every_part_that_holds_the_subject_must_depend_on_it():
    """One idle part among real ones is enough to refuse the proof, and it is named."""
    def build():
        xs, hyps, out = _conv()
        n, k, s, p = xs
        return Proof(xs, hyps + [k == 2 * p + 1, s == 1],
                     {"keeps": out == n, "idle": z3.Or(out >= 0, out < 0)}, subjects=[out])

    verdict = check(_ob(build))
    assert verdict.status == "vacuous" and "(part idle)" in verdict.detail


def test_a_constant_subject_is_a_builder_error():
    def build():
        (n,), nat = nats("n")
        return Proof([n], nat, n >= 0, subjects=[conv_out(5, 3, 1, 1)])

    verdict = check(_ob(build))
    assert verdict.status == "error" and "not a Z3 term" in verdict.detail


def test_a_claim_that_depends_on_its_subject_is_proved():
    def build():
        xs, hyps, out = _conv()
        n, k, s, p = xs
        return Proof(xs, hyps + [k == 2 * p + 1, s == 1], out == n, subjects=[out])

    verdict = check(_ob(build))
    assert verdict.passed and verdict.status == "proved"
    assert "each of 1 subjects matters" in verdict.detail
    assert [q.label for q in verdict.queries] == ["hypotheses", "claim", "subject1"]
    assert [q.z3 for q in verdict.queries] == ["sat", "unsat", "sat"]


def test_a_planted_vacuous_obligation_in_a_registered_family_fails():
    """Registered like any obligation (a test-only family, removed afterwards)."""
    try:
        @obligation("planted_vacuity")
        def planted_vacuous_same_padding():
            """For all n >= 1: conv_out(n, 3, 1, 1) = n or it is not."""
            (n,), nat = nats("n")
            out = conv_out(n, 3, 1, 1)
            return Proof([n], nat + [n >= 1], z3.Or(out == n, out != n), subjects=[out])

        (found,) = obligations("planted_vacuity")
        verdict = check(found)
        assert verdict.status == "vacuous" and not verdict.passed
    finally:
        REGISTRY.pop("planted_vacuous_same_padding", None)
    assert not obligations("planted_vacuity")


def test_every_registered_proof_names_its_subjects_where_it_has_a_formula():
    """The shape families state what they test: each of their proofs has subjects."""
    families = {"cnn2", "conv", "pool", "conv_transpose", "preservation", "resnet", "unet2",
                "round_trip", "arith"}
    for ob in obligations():
        if ob.family in families:
            claim = ob.build()
            if isinstance(claim, Proof):
                assert claim.subjects, ob.name


def test_the_fixed_cnn2_check_catches_what_the_old_one_missed():
    """With padding1 = 0 both axes give 6, not 7: the old check (poolH2 = 7) == (poolW2 = 7)
    held (both sides false); the obligation as it stands is refuted."""
    planted = CNN2Config(padding1=0)
    (h, w), nat = nats("H W")
    old = z3.Solver()
    old.add(*nat, h == 28, w == 28,
            z3.Not((pool_h2(planted, h) == 7) == (pool_w2(planted, w) == 7)))
    assert old.check() == z3.unsat  # the old statement "proved" it

    verdict = check(Obligation("cnn2_feat_shape_at_28", "cnn2", "",
                               lambda: cnn2_feat_shape_at_28(cfg=planted)))
    assert verdict.status == "refuted" and not verdict.passed
    assert "poolH2" in verdict.detail


def test_the_cnn2_check_pins_channels_and_feat_size():
    for planted in (CNN2Config(c2=32), CNN2Config(k_w=5)):
        verdict = check(Obligation("cnn2_feat_shape_at_28", "cnn2", "",
                                   lambda planted=planted: cnn2_feat_shape_at_28(cfg=planted)))
        assert verdict.status == "refuted", planted
