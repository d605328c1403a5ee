"""Turn registered obligations into pytest tests: one test per named obligation.

``globals().update(obligation_tests("conv"))`` in ``proofs/test_conv.py`` creates
``test_<obligation>`` functions whose docstring is the obligation's statement. A test fails
with the verdict (refuted with its counterexample, or the solver's ``unknown``).
"""

from __future__ import annotations

from .engine import Obligation, check, obligations

__all__ = ["obligation_tests"]


def _make_test(ob: Obligation):
    def test():
        verdict = check(ob)
        if not verdict.passed:
            raise AssertionError(
                f"{ob.name}: {verdict.status} ({verdict.kind}); counterexample "
                f"{verdict.counterexample}; {verdict.detail}\n  statement: {ob.statement}")

    test.__name__ = test.__qualname__ = f"test_{ob.name}"
    test.__doc__ = ob.statement
    return test


def obligation_tests(family: str) -> dict:
    """``{"test_<name>": test}`` for every obligation of ``family``."""
    found = obligations(family)
    if not found:
        raise LookupError(f"no obligations registered for family {family!r}")
    return {f"test_{ob.name}": _make_test(ob) for ob in found}
