"""The presets' stated rules go through the proof engine; a wrong statement is refuted."""

from dataclasses import replace

from nnbridge.proofs.engine import check

from nnbridge.unet import build_preset
from nnbridge.unet.rule import Rule, prove_rule, rule_obligation
from nnbridge.unet.stated import STATED, stated_obligations


def test_every_stated_rule_is_proved_by_the_engine():
    found = stated_obligations()
    assert len(found) == len(STATED) >= 6
    for ob in found:
        verdict = check(ob)
        assert verdict.family == "unet_rules"
        assert verdict.status == "proved", (ob.name, verdict.status, verdict.detail)
        assert "exactly when n is" in ob.statement


def test_a_wrong_stated_rule_is_refuted_with_its_least_counterexample():
    desc = build_preset("ronneberger")
    wrong = Rule("H", threshold=188, period=16, residues=(13,))
    verdict = check(rule_obligation(desc, 0, wrong, full=False))
    assert verdict.status == "refuted" and not verdict.passed
    proved = prove_rule(desc, 0, wrong)
    assert proved.status == "refuted" and proved.counterexample == 188
    # the right rule with a threshold one period too high: 188 is valid, the rule says not
    late = prove_rule(desc, 0, Rule("H", threshold=189, period=16, residues=(12,)))
    assert late.status == "refuted" and late.counterexample == 188


def test_the_statement_is_the_checked_rule():
    desc = build_preset("monai")
    rule = Rule("H", threshold=1, period=16, residues=(0,))
    ob = rule_obligation(desc, 0, rule)
    assert "a multiple of 16" in ob.statement
    other = replace(rule, period=32)
    assert "a multiple of 32" in rule_obligation(desc, 0, other).statement
    assert check(rule_obligation(desc, 0, other)).status == "refuted"
