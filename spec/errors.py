"""Errors raised by the specs and the shape formulas."""

from __future__ import annotations

__all__ = ["ShapeError"]


class ShapeError(ValueError):
    """A size, layer argument or configuration breaks a shape rule.

    The message names the rule, the offending values and, where one exists, the fix.
    ``rule`` holds the rule's short name (``"kernel_fits"``, ``"nonneg_size"``, ...) so that
    callers can react to a rule without parsing the text.
    """

    def __init__(self, message: str, *, rule: str = "shape"):
        super().__init__(message)
        self.rule = rule
