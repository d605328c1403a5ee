"""One record per op: everything nnbridge knows about a layer, declared once.

An :class:`Op` names the op's forward, VJP and JVP, the order of its operands, its static
arguments, how to sample a valid configuration, whether its adjoint identity is exact on
integer operands, and its PyTorch reference. Everything else is generated from the record:

* the tape node of :mod:`nnbridge.spec.tape` (parents in :attr:`Op.order`);
* the adjoint registry entries of :mod:`nnbridge.adjoint` (each linear operand alone, and
  all operands jointly, for every spatial rank);
* the torch agreement tests and the Hypothesis strategies (:mod:`nnbridge.spec.strategies`).

One argument order
------------------
``operands`` is the forward's order (``conv(x, w, b)``). ``order`` is TorchLean's: parameters
first, input last (``(w, b, x)``); it is the order of the VJP's result, of the tape node's
parents and of a joint adjoint entry's primal. The functions are always called with keyword
arguments, so no wrapper ever reorders anything:
``forward(x=..., w=..., b=..., **static)``, ``vjp(x=..., w=..., b=..., grad_y=g, **static)``
and ``jvp(x=..., w=..., b=..., dx=..., dw=..., db=..., **static)``.

Adding an op
------------
Write its forward, ``_vjp`` and ``_jvp`` in its family module and declare one record next to
them with :func:`declare` (see ``leaky_relu`` in :mod:`nnbridge.spec.basic`). A planted
defect of its backward goes in ``tests/adjoint``; every other test picks the record up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPS", "Geometry", "Op", "declare", "get_op", "ops", "sizes_in"]

#: How an operand is drawn: any value, pairwise distinct values (max pool: no ties), or values
#: away from 0 (ReLU: no kink within a finite-difference step).
DRAWS = ("normal", "unique", "away_from_zero")


@dataclass(frozen=True)
class Geometry:
    """One valid configuration of an op: the operands' shapes and the static arguments."""

    shapes: Mapping[str, tuple[int, ...]]
    static: Mapping[str, Any] = field(default_factory=dict)


#: ``sample(choose, rank, exact) -> Geometry``: ``choose(options)`` picks one of a non-empty
#: sequence (a NumPy generator or a Hypothesis draw); ``exact`` asks for a configuration on
#: which the adjoint identity is exact on integer operands (dyadic divisors only).
Sampler = Callable[[Callable[[Sequence], Any], int, bool], Geometry]


@dataclass(frozen=True)
class Op:
    """The record of one op.

    Attributes
    ----------
    name : the op's name, also its tape node's name
    forward, vjp, jvp : the spec functions, called with keyword arguments (module docstring)
    operands : operand names in the forward's order, e.g. ``("x", "w", "b")``
    order : the same names in TorchLean's order (parameters first, input last): the order of
        the VJP's result, of the tape node's parents and of a joint adjoint entry
    linear_in : operands in which the op is linear (each gets an entry as a linear map)
    static : names of the static (keyword) arguments
    sample : draws a valid :class:`Geometry` for a spatial rank (sizes inside the proved
        domains of :mod:`nnbridge.spec.domains`)
    draws : how each operand is drawn (:data:`DRAWS`; default ``"normal"``)
    ranks : the spatial ranks the op takes (0: no spatial axes, e.g. ``linear``)
    exact : the adjoint identity is exact on integer-valued float64 operands (with the
        geometry drawn for exact mode)
    torch : ``torch(**tensors, **static) -> tensor``, PyTorch's value on one sample (no batch
        axis), or None; it imports torch itself
    torch_vjp_exact : whether autograd's gradient is the spec's everywhere the test samples
    """

    name: str
    forward: Callable
    vjp: Callable
    jvp: Callable
    operands: tuple[str, ...]
    order: tuple[str, ...]
    sample: Sampler
    linear_in: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    draws: Mapping[str, str] = field(default_factory=dict)
    ranks: tuple[int, ...] = (1, 2, 3)
    exact: bool = True
    torch: Callable | None = None
    doc: str = ""

    def __post_init__(self):
        if sorted(self.operands) != sorted(self.order):
            raise ValueError(f"op {self.name}: order {self.order} is not a permutation of "
                             f"operands {self.operands}")
        bad = set(self.linear_in) - set(self.operands)
        bad |= {d for d in self.draws.values() if d not in DRAWS}
        if bad:
            raise ValueError(f"op {self.name}: unknown operand names or draws {sorted(bad)}")

    # -- calling the op by operand name ------------------------------------------------------
    def call(self, values: Mapping[str, Any], **static):
        """The forward at ``values`` (a mapping operand name -> array)."""
        return self.forward(**{n: values[n] for n in self.operands}, **static)

    def call_vjp(self, values: Mapping[str, Any], grad_y, **static) -> tuple:
        """The gradients, one per operand, in :attr:`order` (always a tuple)."""
        grads = self.vjp(**{n: values[n] for n in self.operands}, grad_y=grad_y, **static)
        return grads if isinstance(grads, tuple) else (grads,)

    def call_jvp(self, values: Mapping[str, Any], tangents: Mapping[str, Any], **static):
        """The output tangent; an operand missing from ``tangents`` has tangent zero."""
        return self.jvp(**{n: values[n] for n in self.operands},
                        **{f"d{n}": tangents.get(n) for n in self.operands}, **static)

    @property
    def joint_name(self) -> str:
        """The suffix of the joint entry: the operands' initials in TorchLean's order."""
        return "".join(n[0] for n in self.order)


#: Every op, by name, in declaration order.
OPS: dict[str, Op] = {}


def declare(op: Op) -> Op:
    """Add ``op`` to :data:`OPS` (a second op of the same name is an error)."""
    if op.name in OPS and OPS[op.name] is not op:
        raise ValueError(f"an op named {op.name!r} is already declared")
    OPS[op.name] = op
    return op


#: The family modules that declare records (imported by name: ``from . import conv`` would
#: consult the package's lazy exports).
FAMILIES = ("basic", "convolution", "pool", "norm", "resize")


def _load() -> None:
    for family in FAMILIES:
        importlib.import_module(f"{__package__}.{family}")


def ops() -> list[Op]:
    """Every declared op."""
    _load()
    return list(OPS.values())


def get_op(name: str) -> Op:
    _load()
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; known: {', '.join(OPS)}") from None


def sizes_in(choose, domain, kernel, stride, padding, *, largest: int = 7) -> tuple[int, ...]:
    """One spatial size per axis, drawn from ``1..largest`` inside ``domain(n, k, s, p)``.

    ``domain`` is one of the proved predicates of :mod:`nnbridge.spec.domains`, so a sampled
    configuration is inside the proved domain by construction, never by a restated bound.
    """
    sizes = []
    for k, s, p in zip(kernel, stride, padding, strict=True):
        inside = [n for n in range(1, largest + 1) if domain(n, k, s, p)]
        if not inside:
            raise ValueError(f"no size up to {largest} is in {domain.__name__} for kernel {k}, "
                             f"stride {s}, padding {p}")
        sizes.append(choose(inside))
    return tuple(sizes)
