"""``read_ir`` and ``write_ir``: TorchLean's IR graph files to nnbridge's network graph and
back, with the weight store beside a written graph."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnbridge.spec.errors import Rule, UsageError

__all__ = ["Written", "default_weights_path", "read_ir", "write_ir"]


@dataclass(frozen=True)
class Written:
    """What :func:`write_ir` wrote: the graph file, the weight store (``None`` for a graph
    without weights) and the checked IR graph."""

    graph_path: Path
    weights_path: Path | None
    ir: object

    def as_dict(self) -> dict:
        ir = self.ir
        kinds: dict[str, int] = {}
        for n in ir.nodes:
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
        return {"graph": str(self.graph_path),
                "weights": None if self.weights_path is None else str(self.weights_path),
                "nodes": len(ir.nodes), "kinds": kinds, "input_shape": list(ir.input_shape),
                "output_shape": list(ir.output_shape)}


def read_ir(path):
    """The network graph (:class:`~nnbridge.graph.core.Graph`) of a ``torchlean.ir.v1``
    file, checked as TorchLean's importer checks it (:func:`~nnbridge.torchlean.ir.load_ir`)
    and converted by :func:`~nnbridge.torchlean.to_graph.to_graph`."""
    from .ir import load_ir
    from .to_graph import to_graph

    return to_graph(load_ir(path))


def default_weights_path(graph_path) -> Path:
    """``model.ir.json`` -> ``model.weights.json`` (beside it)."""
    path = Path(graph_path)
    name = path.name
    for suffix in (".ir.json", ".json"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".weights.json")
    return path.with_name(name + ".weights.json")


def write_ir(graph_or_module, path, example_shape=None, *, weights_path=None,
             batch: bool = True) -> Written:
    """Write ``graph_or_module`` as a ``torchlean.ir.v1`` file at ``path``.

    An ``nn.Module`` is exported with ``torch.export`` on an input of ``example_shape``
    (batch first, 1: the IR has none; ``batch=False`` reads the example as the IR's own
    input shape), and its weights go to ``weights_path`` (default: beside the graph,
    ``<name>.weights.json``; see :mod:`nnbridge.torchlean.weights`). A
    :class:`~nnbridge.graph.core.Graph` is written without weights
    (:func:`~nnbridge.torchlean.from_graph.from_graph`). Every file written passed
    TorchLean's checks first.
    """
    from nnbridge.graph.core import Graph

    from .from_graph import from_graph
    from .jsonio import write_json

    if isinstance(graph_or_module, Graph):
        if weights_path is not None:
            raise UsageError(Rule.CLI_USAGE, detail="a graph carries no weights: "
                                                    "weights_path is for an nn.Module")
        ir = from_graph(graph_or_module, example_shape)
        target = write_json(path, ir.to_json(), indent=1)
        return Written(target, None, ir)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not isinstance(graph_or_module, torch.nn.Module):
        raise UsageError(Rule.DESCRIPTION_VALUE, where="write_ir",
                         detail=f"a Graph or a torch.nn.Module is needed, got "
                                f"{type(graph_or_module).__name__}")
    from nnbridge.report import check_output

    from .export import export_module
    from .weights import write_weights

    if example_shape is None:
        raise UsageError(Rule.INPUT_SIZE, detail="exporting a module needs example_shape, "
                                                 "e.g. (1, 3, 32, 32)")
    weights_path = Path(weights_path) if weights_path is not None else \
        default_weights_path(path)
    check_output(path)
    check_output(weights_path)
    ir, weights, dtypes = export_module(graph_or_module, example_shape, batch=batch)
    target = write_json(path, ir.to_json(), indent=1)
    store = write_weights(weights_path, ir, weights, graph_file=target.name, dtypes=dtypes)
    return Written(target, store, ir)
