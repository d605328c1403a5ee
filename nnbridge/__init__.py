"""nnbridge: a verification bridge between TorchLean's specs, NumPy and GPU kernels."""

from nnbridge.spec.errors import ShapeError

__all__ = ["ShapeError", "__version__"]

__version__ = "0.1.0"
