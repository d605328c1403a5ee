"""What every model spec shares: typed parameter sets, seeded parameters, the call checks.

A model's parameters and its gradients are both a :class:`Params`: an immutable, ordered
mapping from PyTorch's parameter names (``"conv1.weight"``, ``"layer1.0.bn2.bias"``) to
arrays, whose name set and shapes are fixed by the model. ``grads["head.weight"]`` reads
as before; ``grads.layer("head")`` gives the layer's ``weight`` and ``bias`` as named
fields. Every array given to a model is checked once, at the model's door, by
:mod:`nnbridge.spec.checks`: parameters, input, ``grad_y`` and tangents share one dtype
(float32 or float64, never promoted).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from ..checks import (
    FLOAT_DTYPES,
    MAX_ELEMENTS,
    as_float_array,
    check_elements,
    cotangent,
    integer,
    same_dtype,
    tangent,
)
from ..errors import Rule, ShapeError
from ..formulas import MAX_SIZE
from .executor import ARRAYS

__all__ = ["Layer", "Params", "SpecModel", "positive_sizes"]

V = TypeVar("V")


@dataclass(frozen=True)
class Layer(Generic[V]):
    """One layer's parameters (or gradients): ``weight`` and ``bias``.

    For a batch norm they are ``gamma`` and ``beta``, PyTorch's ``weight`` and ``bias``.
    """

    weight: V
    bias: V


class Params(Mapping[str, V]):
    """An immutable, ordered set of named arrays: a model's parameters or their gradients.

    Built by the model, never edited in place: ``model.params``, the ``grads`` of
    ``model.vjp`` and :func:`~nnbridge.spec.models.tape.tape_vjp` have the same names in the
    same order (PyTorch's ``named_parameters`` order). To change values, build a dict
    (``dict(model.params, **{"head.bias": b})``) and pass it as ``params=``; the model
    checks it.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, V]):
        self._values = dict(values)

    def __getitem__(self, name: str) -> V:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    # arrays have no single truth value: two parameter sets are equal when they are one
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}: {getattr(v, 'shape', v)}" for n, v in self._values.items())
        return f"Params({{{shown}}})"

    def layer(self, name: str) -> Layer[V]:
        """The ``weight`` and ``bias`` of layer ``name`` (``"conv1"``, ``"layer1.0.bn2"``)."""
        try:
            return Layer(self._values[f"{name}.weight"], self._values[f"{name}.bias"])
        except KeyError:
            raise ShapeError(Rule.PARAM_NAMES, op="Params.layer",
                             detail=f"no layer {name!r}; layers: {self.layers}") from None

    @property
    def layers(self) -> tuple[str, ...]:
        """The layer names, in order (each has ``.weight`` and ``.bias``)."""
        return tuple(dict.fromkeys(n.rsplit(".", 1)[0] for n in self._values))

    @property
    def dtype(self) -> np.dtype:
        """The one dtype of the arrays."""
        return same_dtype("Params", **self._values)


def positive_sizes(owner: str, **values) -> dict[str, int]:
    """Each value a positive integer (not bool) at most 2**48, as ``int``."""
    out = {}
    for name, value in values.items():
        out[name] = integer(owner, name, value, minimum=1)
        if out[name] > MAX_SIZE:
            raise ShapeError(Rule.HUGE_SIZE, op=owner, name=name, value=out[name])
    return out


class SpecModel(ABC):
    """A model spec: named parameters from a seed, one forward ``graph``, ``vjp``, ``jvp``.

    A subclass fills ``self.input_shape`` (``None`` along an axis of any size), calls
    :meth:`_init_params` with an ordered ``{name: (shape, kind)}`` table, and writes:

    * ``graph(ex, p, x) -> dict`` -- the forward, ONCE, on an
      :class:`~nnbridge.spec.models.executor.Executor`; the dict holds the values the
      hand-written backward needs and the output under ``"y"``;
    * ``_backward(v, p, grad_y, grads) -> grad_x`` and ``_forward_tangent(v, p, d, dx)`` --
      the hand-written VJP and JVP over the array reading's values ``v``;
    * optionally ``_check_size(x)``, the model's conditions on the input's spatial sizes.

    ``kind`` is ``"weight"`` (normal, variance ``1 / fan_in``, fan_in from ``shape[1:]``),
    ``"bias"`` or ``"beta"`` (normal, scale 0.1) or ``"gamma"`` (``1 +`` normal, scale 0.1).

    Every model then has:

    * ``forward(x, params=None) -> y``
    * ``vjp(x, grad_y, params=None) -> (grads, grad_x)``, ``grads`` a :class:`Params` named
      like ``params``
    * ``jvp(x, dx, dparams=None, params=None) -> dy``; a missing (or ``None``) tangent is zero.
    """

    input_shape: tuple[int | None, ...]
    params: Params[np.ndarray]
    _shapes: dict[str, tuple[int, ...]]

    # -- construction --------------------------------------------------------------------------
    def _init_params(self, table: dict, seed, dtype) -> None:
        owner = type(self).__name__
        try:
            wanted = np.dtype(dtype) if dtype is not None else None
        except TypeError:
            wanted = None
        if wanted is None or wanted not in FLOAT_DTYPES:  # np.dtype(None) would be float64
            raise ShapeError(Rule.DTYPE, op=owner, name="dtype", got=repr(dtype))
        dtype = wanted
        seed = integer(owner, "seed", seed, minimum=0)
        total = 0
        for name, (shape, _) in table.items():
            total += math.prod(check_elements(owner, f"parameter {name}", shape))
        if total > MAX_ELEMENTS:
            raise ShapeError(Rule.TOO_LARGE, op=owner, what="the parameters together",
                             got=total, limit=MAX_ELEMENTS)
        rng = np.random.default_rng(seed)
        values = {}
        for name, (shape, kind) in table.items():
            if kind == "weight":
                fan_in = max(math.prod(shape[1:]), 1)
                value = rng.standard_normal(shape) / math.sqrt(fan_in)
            elif kind == "gamma":
                value = 1 + 0.1 * rng.standard_normal(shape)
            else:
                value = 0.1 * rng.standard_normal(shape)
            values[name] = value.astype(dtype)
        self._shapes = {name: tuple(shape) for name, (shape, _) in table.items()}
        self.params = Params(values)
        self.dtype = dtype

    def with_params(self, params):
        """A copy of this model whose parameters are ``params``, checked as every call
        checks them: exactly the model's names and shapes, one float dtype."""
        import copy

        checked = self._params(params)
        model = copy.copy(self)
        model.params = checked
        model.dtype = checked.dtype
        return model

    @property
    def param_count(self) -> int:
        """The number of scalar parameters (PyTorch's ``sum(p.numel() for p in params)``)."""
        return sum(math.prod(s) for s in self._shapes.values())

    # -- the calls -----------------------------------------------------------------------------
    def forward(self, x, params=None):
        """The model's output at ``x`` (the array reading of :meth:`graph`)."""
        p = self._params(params)
        return self.graph(ARRAYS, p, self._input("x", x, p))["y"]

    def vjp(self, x, grad_y, params=None):
        """``(grads, grad_x)`` by the hand-written backward; ``grads`` a :class:`Params`."""
        p = self._params(params)
        v = self.graph(ARRAYS, p, self._input("x", x, p))
        grad_y = cotangent(type(self).__name__, "grad_y", grad_y, v["y"].shape, v["y"].dtype)
        grads: dict[str, np.ndarray] = {}
        grad_x = self._backward(v, p, grad_y, grads)
        return self._collect(grads), grad_x

    def jvp(self, x, dx, dparams=None, params=None):
        """The output tangent along ``(dx, dparams)`` by the hand-written forward mode."""
        p = self._params(params)
        x = self._input("x", x, p)
        dx = tangent(type(self).__name__, "dx", dx, x)
        d = self._tangents(dparams, p)
        return self._forward_tangent(self.graph(ARRAYS, p, x), p, d, dx)

    # -- what subclasses write -----------------------------------------------------------------
    @abstractmethod
    def graph(self, ex, p, x) -> dict:
        """The forward on executor ``ex``: values by name, the output under ``"y"``."""

    @abstractmethod
    def _backward(self, v, p, grad_y, grads):
        """Fill ``grads`` by name from the array values ``v``; return ``grad_x``."""

    @abstractmethod
    def _forward_tangent(self, v, p, d, dx):
        """The output tangent along ``dx`` and the parameter tangents ``d``."""

    def _check_size(self, x: np.ndarray) -> None:
        """The model's conditions on the input's sizes beyond ``input_shape``: by default
        only ``input_shape`` itself, already checked."""
        return None

    # -- the checks at the door ----------------------------------------------------------------
    def _params(self, params) -> Params[np.ndarray]:
        """``params`` checked: exactly the model's names and shapes, one float dtype."""
        if params is None or params is self.params:
            return self.params
        owner = type(self).__name__
        if not isinstance(params, Mapping):
            raise ShapeError(Rule.CONFIG_TYPE, op=owner, expected="params as a mapping "
                             "from parameter name to array", got=type(params).__name__)
        self._names(owner, "params", params, allow_missing=False)
        values = {}
        for name, shape in self._shapes.items():
            value = as_float_array(owner, f"params[{name!r}]", params[name])
            if value.shape != shape:
                raise ShapeError(Rule.SHAPE_MATCH, op=owner, name=f"params[{name!r}]",
                                 expected=shape, got=value.shape)
            values[name] = value
        same_dtype(owner, **values)
        return Params(values)

    def _names(self, owner: str, what: str, given: Mapping, *, allow_missing: bool) -> None:
        unknown = [n for n in given if n not in self._shapes]
        missing = [] if allow_missing else [n for n in self._shapes if n not in given]
        if unknown or missing:
            parts = ([f"unknown {unknown}"] if unknown else []) + (
                [f"missing {missing}"] if missing else [])
            raise ShapeError(Rule.PARAM_NAMES, op=owner,
                             detail=f"{what}: " + ", ".join(parts))

    def _tangents(self, dparams, p: Params) -> dict[str, np.ndarray]:
        """A tangent per parameter: given ones checked like their parameter, others zero."""
        owner = type(self).__name__
        dparams = {} if dparams is None else dparams
        if not isinstance(dparams, Mapping):
            raise ShapeError(Rule.CONFIG_TYPE, op=owner, expected="dparams as a mapping "
                             "from parameter name to array", got=type(dparams).__name__)
        self._names(owner, "dparams", dparams, allow_missing=True)
        return {name: tangent(owner, f"dparams[{name!r}]", dparams.get(name), value)
                for name, value in p.items()}

    def _input(self, name: str, x, p: Params) -> np.ndarray:
        """``x`` checked: a float array of ``input_shape``, the parameters' dtype, a size the
        model accepts (:meth:`_check_size`)."""
        owner = type(self).__name__
        x = as_float_array(owner, name, x)
        expected = self.input_shape
        if x.ndim != len(expected) or any(
                e is not None and n != e for n, e in zip(x.shape, expected, strict=True)):
            shown = tuple("any" if e is None else e for e in expected)
            raise ShapeError(Rule.SHAPE_MATCH, op=owner, name=name, expected=shown,
                             got=x.shape)
        if any(e is None and n == 0 for n, e in zip(x.shape, expected, strict=True)):
            raise ShapeError(Rule.INPUT_NONEMPTY, op=f"{owner}: {name} of shape {x.shape}")
        if x.dtype != p.dtype:
            raise ShapeError(Rule.DTYPE_MIX, op=owner,
                             got=f"{name}: {x.dtype}, parameters: {p.dtype}")
        self._check_size(x)
        return x

    def _collect(self, grads: dict[str, np.ndarray]) -> Params[np.ndarray]:
        """The hand-written backward's gradients, in the parameters' order, all present."""
        self._names(type(self).__name__, "the backward's gradients", grads,
                    allow_missing=False)
        return Params({name: grads[name] for name in self._shapes})
