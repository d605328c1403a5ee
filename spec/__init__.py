"""Executable specifications: the shape formulas and the NumPy layer and model specs."""

from .errors import ShapeError

__all__ = ["ShapeError"]
