"""One network graph under every front end: presets, TOML/JSON descriptions, traced
``nn.Module`` s.

>>> from nnbridge.graph import from_torch          # doctest: +SKIP
>>> graph = from_torch(model, spatial_dims=2)       # doctest: +SKIP
>>> from nnbridge.unet import check
>>> check(graph, "96x96").valid                     # doctest: +SKIP

A :class:`Graph` is nodes (an op, static parameters, inputs) over the spatial sizes of each
axis; :func:`evaluate` propagates sizes with the proved formulas of
:mod:`nnbridge.spec.shapes` (as ints, Z3 terms or SymPy expressions) and yields the
obligations. The names below are imported on first use: importing this package imports
neither torch nor Z3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Graph, Node, Size, const, dim_of
    from .description import from_description
    from .evaluate import evaluate, joint_obligations, trace
    from .running import RunResult, runs_on, valid_sizes
    from .trace_torch import from_torch

_HOMES = {
    **dict.fromkeys(("Graph", "Node", "Size", "const", "dim_of"), "core"),
    "from_description": "description",
    **dict.fromkeys(("evaluate", "joint_obligations", "trace"), "evaluate"),
    **dict.fromkeys(("RunResult", "runs_on", "valid_sizes"), "running"),
    "from_torch": "trace_torch",
}

__all__ = [
    "Graph",
    "Node",
    "RunResult",
    "Size",
    "const",
    "dim_of",
    "evaluate",
    "from_description",
    "from_torch",
    "joint_obligations",
    "runs_on",
    "trace",
    "valid_sizes",
]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
