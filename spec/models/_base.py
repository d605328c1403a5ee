"""What every model spec shares: seeded parameters, the input check, tangent defaults."""

from __future__ import annotations

import math

import numpy as np

from ..checks import FLOAT_DTYPES, as_float_array
from ..errors import ShapeError

__all__ = ["SpecModel"]


class SpecModel:
    """A model spec: named parameters created from a seed, ``forward``, ``vjp``, ``jvp``.

    Subclasses fill ``self.input_shape`` and call :meth:`_init_params` with an ordered
    ``{name: (shape, kind)}`` table; ``kind`` is ``"weight"`` (normal, variance
    ``1 / fan_in``, fan_in from ``shape[1:]``), ``"bias"`` or ``"beta"`` (normal, scale 0.1)
    or ``"gamma"`` (``1 +`` normal, scale 0.1).

    Methods every model has:

    * ``forward(x, params=None) -> y``
    * ``vjp(x, grad_y, params=None) -> (grads, grad_x)``, ``grads`` a dict keyed like ``params``
    * ``jvp(x, dx, dparams=None, params=None) -> dy``; a missing parameter tangent is zero.
    """

    input_shape: tuple[int | None, ...]  # None: any size along that axis
    params: dict[str, np.ndarray]

    def _init_params(self, table: dict, seed: int, dtype) -> None:
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise ShapeError(
                f"{type(self).__name__}: dtype must be float32 or float64, got {dtype}",
                rule="dtype")
        rng = np.random.default_rng(seed)
        self.params = {}
        for name, (shape, kind) in table.items():
            if kind == "weight":
                fan_in = max(math.prod(shape[1:]), 1)
                value = rng.standard_normal(shape) / math.sqrt(fan_in)
            elif kind == "gamma":
                value = 1 + 0.1 * rng.standard_normal(shape)
            else:
                value = 0.1 * rng.standard_normal(shape)
            self.params[name] = value.astype(dtype)
        self.dtype = dtype

    @property
    def param_count(self) -> int:
        """The number of scalar parameters (PyTorch's ``sum(p.numel() for p in params)``)."""
        return sum(p.size for p in self.params.values())

    def _params(self, params) -> dict[str, np.ndarray]:
        if params is None:
            return self.params
        missing = sorted(set(self.params) - set(params))
        if missing:
            raise ShapeError(f"{type(self).__name__}: params lacks {missing}",
                             rule="param_names")
        for name, value in self.params.items():
            if np.shape(params[name]) != value.shape:
                raise ShapeError(
                    f"{type(self).__name__}: params[{name!r}] must have shape {value.shape}, "
                    f"got {np.shape(params[name])}", rule="shape_match")
        return params

    def _tangents(self, dparams) -> dict[str, np.ndarray]:
        dparams = {} if dparams is None else dparams
        unknown = sorted(set(dparams) - set(self.params))
        if unknown:
            raise ShapeError(f"{type(self).__name__}: dparams names unknown parameters "
                             f"{unknown}", rule="param_names")
        return {name: dparams[name] if name in dparams else np.zeros_like(value)
                for name, value in self.params.items()}

    def _check_input(self, name: str, x) -> np.ndarray:
        x = as_float_array(type(self).__name__, name, x)
        expected = self.input_shape
        if x.ndim != len(expected) or any(
                e is not None and n != e for n, e in zip(x.shape, expected, strict=True)):
            raise ShapeError(
                f"{type(self).__name__}: {name} must have shape {expected} (None: any size), got "
                f"{x.shape}", rule="shape_match")
        if x.dtype != self.dtype:
            raise ShapeError(f"{type(self).__name__}: {name} has dtype {x.dtype} but the "
                             f"parameters are {self.dtype}", rule="dtype_mix")
        return x
