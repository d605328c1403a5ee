"""Proof obligations of the induction family, and the closed forms against the rule command.

One test per obligation (base cases, steps with a symbolic P, heads, per-depth cross-checks,
planted defects), then: the closed forms against the library rule of ``nnbridge unet rule``
(:func:`nnbridge.unet.rule.rule_for`) at depths 1 to 5, the preset's levels being the same
at every depth (what an induction over the depth needs), and a wrong step refuted.
"""

from __future__ import annotations

import pytest
from nnbridge.proofs import induction as I
from nnbridge.proofs.engine import Obligation, check
from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("induction"))


def _valid_closed_form(depth: int) -> tuple[int, int, int]:
    """``(period, residue, least valid size)`` of the valid-convolution closed form."""
    q = 2**depth
    if depth == 1:
        return 2, 0, 18
    return q, I.ValidRule.offset(q) % q, I.ValidRule.threshold(q)


@pytest.mark.parametrize("depth", range(1, 6))
def test_valid_closed_form_is_the_rule_command(depth):
    from nnbridge.unet.rule import rule_for

    rule = rule_for(I.ronneberger(depth, 0), 0)
    period, residue, first = _valid_closed_form(depth)
    assert rule.proved
    assert (rule.period, rule.residues, rule.exceptions, rule.first()) == \
        (period, (residue,), (), first)
    assert all(rule.contains(n) == (n >= first and n % period == residue)
               for n in range(1, first + 4 * period))


@pytest.mark.parametrize("depth", range(1, 6))
def test_same_closed_form_is_the_rule_command(depth):
    from nnbridge.unet.rule import rule_for

    rule = rule_for(I.ronneberger(depth, 1), 0)
    assert rule.proved
    assert (rule.period, rule.residues, rule.exceptions, rule.first()) == \
        (2**depth, (0,), (), 2**depth)


def test_depth_four_is_the_paper():
    """16k + 12 from 188, and 572 -> 388 (b_4 = 184)."""
    from nnbridge.unet import require_valid

    assert _valid_closed_form(4) == (16, 12, 188)
    assert I.ValidRule.shrink(16) == 572 - 388
    assert require_valid("ronneberger", (572, 572)) == (388, 388)


@pytest.mark.parametrize("padding", [0, 1])
def test_levels_are_the_same_at_every_depth(padding):
    """The step is proved for one level; the preset repeats that level (and keeps its
    bottom and head) at every depth, which is what makes the induction cover it."""
    one = I.ronneberger(1, padding)
    for depth in I.DEPTHS:
        desc = I.ronneberger(depth, padding)
        assert desc.levels == (one.levels[0],) * depth
        assert (desc.bottom, desc.head, desc.output) == (one.bottom, one.head, one.output)


@pytest.mark.parametrize("offset", [-2, 1])
def test_a_wrong_step_is_refuted(offset):
    """Planted: the step with c_d = 2**d - 4 + offset; Z3 refutes it."""
    class Wrong(I.ValidRule):
        @staticmethod
        def offset(q):
            return q - 4 + offset

    level = I.ronneberger(1, 0).levels[0]
    verdict = check(Obligation("planted", "planted", "a wrong step",
                               lambda: I._step(level, Wrong(), lambda p: 2 * p, [])))
    assert verdict.status == "refuted", verdict.detail


def test_a_wrong_base_is_refuted():
    """Planted: the base case with the threshold of the general form at depth 1 (20, not
    18): refuted at n = 18."""
    import z3

    desc = I.ronneberger(1, 0)

    def build():
        n = z3.Int("n")
        ok, _ = I._whole(desc, n)
        return I.Proof([n], [n >= 1], ok == I.VALID.holds(2, n))

    verdict = check(Obligation("planted", "planted", "a wrong base", build))
    assert verdict.status == "refuted" and verdict.counterexample == {"n": 18}
