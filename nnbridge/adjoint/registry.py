"""The registry of maps whose adjoint identity ``nnbridge adjoint`` checks.

Every entry is a *linear map* ``A`` given with its adjoint ``A^T`` (conv in ``x``, avg pool,
pad, ...), or the *linearisation* of a nonlinear op or model at a sampled point: then ``A`` is
its JVP and ``A^T`` its VJP, and the forward is kept so that :func:`check_jvp` can compare the
JVP with finite differences.

How to add an entry
-------------------
In an entry module (``nnbridge.adjoint.entries_layers``, ``entries_basic``,
``entries_models``, ...), decorate a *builder* with :func:`entry`. The builder receives a
:class:`~nnbridge.adjoint.sampling.Sampler` and returns a :class:`Case`; draw EVERY operand
through the sampler (``s.array(shape)``, ``s.unique(shape)`` for max-pool inputs that must
have no ties, ``s.away_from_zero(shape)`` for ReLU inputs that must stay off the kink), so
that exact mode gets small integers and float mode gets the trial's dtype::

    from nnbridge.adjoint.registry import Case, entry

    @entry("linear.x", exact=True)
    def _linear_x(s):
        x, w, b = s.array((5,)), s.array((3, 5)), s.array((3,))
        return Case(
            primal=(x,),                                   # the point (tangent structure)
            forward=lambda x: linear(x, w, b),             # f, for finite differences
            jvp=lambda dx: linear_jvp(x, w, b, dx, None, None),   # u -> A u
            vjp=lambda g: (linear_vjp(x, w, b, g)[2],),    # v -> A^T v, a tuple like primal
        )

``exact=True`` promises that, on integer-valued float64 operands, every number the map and
its adjoint compute is an integer (or a dyadic fraction: division by 2, 4, 8, ...) below
2**53, so the two inner products are equal bit for bit; leave it ``False`` for ``exp``,
``sqrt``, non-dyadic divisions (batch norm, smooth max, avg pool over 3x3). ``fd=False`` skips
the finite-difference JVP check (only when no meaningful forward exists). ``float_factor`` is
the multiple of machine epsilon the float-mode tolerance allows (default 64).

Then append the module's dotted name to :data:`ENTRY_MODULES` (one line).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ENTRY_MODULES", "Case", "Entry", "entry", "get", "register", "registry"]

#: Modules that define entries; importing one registers its entries.
ENTRY_MODULES: list[str] = [
    "nnbridge.adjoint.entries_layers",
    "nnbridge.adjoint.entries_basic",
    "nnbridge.adjoint.entries_models",
    "nnbridge.adjoint.entries_kernels",
]


@dataclass(frozen=True)
class Case:
    """One instance of a map at a sampled point.

    Attributes
    ----------
    primal : tuple of ndarray
        The point; tangents and the VJP's result have the same structure and shapes.
    forward : callable ``f(*primal) -> y`` (array or tuple of arrays), or None
    jvp : callable ``A(*tangents) -> dy``
    vjp : callable ``A^T(grad_y) -> tuple`` shaped like ``primal``
    """

    primal: tuple
    jvp: Callable[..., Any]
    vjp: Callable[[Any], tuple]
    forward: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Entry:
    """A named builder of :class:`Case` instances and how it may be checked."""

    name: str
    build: Callable[[Any], Case]
    exact: bool = True
    fd: bool = True
    float_factor: float = 64.0
    fd_tolerance: float = 1e-6
    trials: int = 3
    doc: str = ""


_REGISTRY: dict[str, Entry] = {}
_LOADED = False


def register(item: Entry) -> Entry:
    """Add ``item``; a second entry with the same name is an error, not a silent overwrite."""
    if item.name in _REGISTRY and _REGISTRY[item.name].build is not item.build:
        raise ValueError(f"adjoint registry: an entry named {item.name!r} already exists")
    _REGISTRY[item.name] = item
    return item


def entry(name: str, **options) -> Callable[[Callable], Callable]:
    """Decorator: register the builder as ``Entry(name, builder, **options)``."""

    def wrap(build: Callable) -> Callable:
        register(Entry(name, build, doc=(build.__doc__ or "").strip(), **options))
        return build

    return wrap


def _load() -> None:
    global _LOADED
    if not _LOADED:
        for module in ENTRY_MODULES:
            importlib.import_module(module)
        _LOADED = True


def registry(pattern: str | None = None) -> list[Entry]:
    """Every registered entry (those whose name contains ``pattern``), in registration order."""
    _load()
    return [e for name, e in _REGISTRY.items() if pattern is None or pattern in name]


def get(name: str) -> Entry:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no adjoint registry entry named {name!r}") from None
