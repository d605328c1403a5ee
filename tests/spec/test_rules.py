"""The rule vocabulary is closed: every rule named anywhere in the package is a Rule member."""

import ast
import pathlib
import string

import pytest
from nnbridge.spec.errors import NNBridgeError, Rule, ShapeError, UsageError

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("spec", "kernels", "nnbridge", "proofs") for p in (ROOT / d).rglob("*.py")]


def _rule_literals():
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "rule" \
                    and isinstance(node.value, ast.Constant):
                yield path.name, node.value.value


def test_every_rule_literal_in_the_package_is_a_member():
    found = list(_rule_literals())
    values = {r.value for r in Rule}
    assert not [(f, v) for f, v in found if v not in values]


def test_a_rule_outside_the_set_is_refused():
    with pytest.raises(TypeError, match="not one of nnbridge's rules"):
        ShapeError("message", rule="no_such_rule")
    with pytest.raises(TypeError, match="needs a rule"):
        UsageError("message")


@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.value)
def test_every_template_formats_and_renders_one_line(rule):
    fields = {f for _, f, _, _ in string.Formatter().parse(rule.template) if f}
    exc = (UsageError if rule.usage else ShapeError)(rule, **{f: f"<{f}>" for f in fields})
    line = exc.one_line()
    assert isinstance(exc, NNBridgeError) and exc.rule is rule
    assert line.startswith(f"[{rule.value}] ") and "\n" not in line
    if rule.fix:
        assert rule.fix in line
