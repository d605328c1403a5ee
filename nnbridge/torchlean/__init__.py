"""To and from TorchLean: its ``torchlean.ir.v1`` graphs and its state-dict JSON files.

>>> from nnbridge.torchlean import read_ir, write_ir, load, save   # doctest: +SKIP
>>> graph = read_ir("model.ir.json")          # checked as TorchLean's importer checks it
>>> write_ir(module, "model.ir.json", example_shape=(1, 3, 32, 32))  # + model.weights.json
>>> mlp = load("mlp.json")                    # TorchLean.MLP -> nnbridge.spec.models.MLP

* :mod:`~nnbridge.torchlean.ir`: the graph format and every rule of TorchLean's importer;
  :mod:`~nnbridge.torchlean.contracts`: the shape contracts, conv and pool sizes through
  ``conv_out(semantics="lean-2026-07")`` (proved in ``proofs/torchlean_ir.py``);
* :mod:`~nnbridge.torchlean.to_graph` / :mod:`~nnbridge.torchlean.from_graph`: to and from
  nnbridge's network graph; :mod:`~nnbridge.torchlean.export`: an ``nn.Module`` through
  ``torch.export``, each ATen op mapped by :mod:`~nnbridge.torchlean.aten`;
  :mod:`~nnbridge.torchlean.weights`: the weight store;
* :mod:`~nnbridge.torchlean.run`: the graph run with the NumPy spec, against PyTorch;
* :mod:`~nnbridge.torchlean.statedict`: ``TorchLean.MLP``, ``TorchLean.CNN2`` and generic
  state dicts.

Names load on first use: importing this package imports neither NumPy nor torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Written, read_ir, write_ir
    from .ir import IRError, IRGraph, IRNode, load_ir, parse_ir
    from .run import Comparison, compare_torch, run_ir
    from .statedict import load, load_state_dict, save, save_state_dict
    from .to_graph import to_graph
    from .weights import read_weights, write_weights

_HOMES = {
    **dict.fromkeys(("Written", "read_ir", "write_ir"), "api"),
    **dict.fromkeys(("IRError", "IRGraph", "IRNode", "load_ir", "parse_ir"), "ir"),
    **dict.fromkeys(("Comparison", "compare_torch", "run_ir"), "run"),
    **dict.fromkeys(("load", "load_state_dict", "save", "save_state_dict"), "statedict"),
    "to_graph": "to_graph",
    **dict.fromkeys(("read_weights", "write_weights"), "weights"),
}

__all__ = [
    "Comparison",
    "IRError",
    "IRGraph",
    "IRNode",
    "Written",
    "compare_torch",
    "load",
    "load_ir",
    "load_state_dict",
    "parse_ir",
    "read_ir",
    "read_weights",
    "run_ir",
    "save",
    "save_state_dict",
    "to_graph",
    "write_ir",
    "write_weights",
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
