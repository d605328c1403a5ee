"""The weight store beside a ``torchlean.ir.v1`` graph, as state-dict JSON.

TorchLean keeps an IR graph's weights out of the graph, in a store keyed by node id.
nnbridge writes that store in TorchLean's state-dict JSON form (the generic adapter's:
``{"params": {key: nested lists}, "meta": {...}}``, keys sorted, ``allow_nan=False``), one
key per array, named ``nodes.<id>.<name>`` after the node's id in the graph file:

=========================== ============================================================
kind                        keys (shapes)
=========================== ============================================================
``conv2d``                  ``weight [outC, inC, kH, kW]``, ``bias [outC]``
``linear``                  ``weight [out, in]``, ``bias [out]`` (``in``: the parent's
                            last axis, ``out``: the node's)
``batch_norm2d_nchw_eval``  ``weight`` (gamma), ``bias`` (beta), ``running_mean``,
                            ``running_var`` ``[C]``, and ``eps`` (a bare number > 0)
``const``                   ``value [numel(value_shape)]``, flat, row-major
=========================== ============================================================

``meta`` holds ``format = "nnbridge.torchlean.weights.v1"``, the graph file's name and,
per key, its ``shape`` and source ``dtype``. The reader requires exactly these keys (a
missing or extra key, a wrong nesting, shape or a non-number is an error naming the key).
An attention expansion's ``scale`` constant may be left out: it is ``1/sqrt(embed_dim)``.
"""

from __future__ import annotations

import math

from nnbridge.spec.errors import Rule, UsageError

from .ir import IRGraph
from .jsonio import MAX_TENSOR_BYTES, read_json, read_tensor, tensor_to_json, write_json
from .statedict import params_view

__all__ = ["WEIGHTS_FORMAT", "read_weights", "weight_shapes", "write_weights"]

WEIGHTS_FORMAT = "nnbridge.torchlean.weights.v1"


def key(node_id: int, name: str) -> str:
    return f"nodes.{node_id}.{name}"


def weight_shapes(ir: IRGraph) -> dict[str, tuple]:
    """Every key the store of ``ir`` must hold, with its shape (``()``: a bare number)."""
    found: dict[str, tuple] = {}
    for n in ir.nodes:
        f = n.fields
        if n.kind == "conv2d":
            found[key(n.id, "weight")] = (f["outC"], f["inC"], f["kH"], f["kW"])
            found[key(n.id, "bias")] = (f["outC"],)
        elif n.kind == "linear":
            parent = ir.nodes[n.parents[0]].shape
            found[key(n.id, "weight")] = (n.shape[-1], parent[-1])
            found[key(n.id, "bias")] = (n.shape[-1],)
        elif n.kind == "batch_norm2d_nchw_eval":
            for name in ("weight", "bias", "running_mean", "running_var"):
                found[key(n.id, name)] = (f["channels"],)
            found[key(n.id, "eps")] = ()
        elif n.kind == "const" and not _scale(n):
            found[key(n.id, "value")] = (math.prod(f.get("value_shape", n.shape)),)
    return found


def _scale(n) -> bool:
    return len(n.origin) == 2 and n.origin[1] == "scale"


def read_weights(path, ir: IRGraph) -> dict[str, object]:
    """The store of ``ir`` in ``path``: ``{key: float64 array}`` (``eps``: a float)."""
    where = repr(str(path))
    data = read_json(path, max_bytes=MAX_TENSOR_BYTES, what="the weight store")
    merged, _ = params_view(data, where)
    wanted = weight_shapes(ir)
    out: dict[str, object] = {}
    for name, shape in wanted.items():
        if name not in merged:
            raise UsageError(Rule.DESCRIPTION_VALUE, where=f"{where}: key {name!r}",
                             detail="missing key (the graph's node needs it)")
        value = read_tensor(merged[name], shape, name, where)
        if name.endswith(".eps"):
            if not value > 0:
                raise UsageError(Rule.DESCRIPTION_VALUE, where=f"{where}: key {name!r}",
                                 detail=f"eps must be positive, got {float(value)}")
            value = float(value)
        out[name] = value
    extra = [k for k in merged if k not in wanted and k != "meta"]
    for k in extra:
        if _is_scale_key(ir, k):
            shape = ir.nodes[int(k.split(".")[1])].shape
            out[k] = read_tensor(merged[k], (math.prod(shape),), k, where)
            continue
        raise UsageError(Rule.DESCRIPTION_VALUE, where=f"{where}: key {k!r}",
                         detail=f"no node of the graph has it (expected keys: "
                                f"{sorted(wanted)[:8]}{' ...' if len(wanted) > 8 else ''})")
    return out


def _is_scale_key(ir: IRGraph, name: str) -> bool:
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "nodes" or parts[2] != "value" or not parts[1].isdigit():
        return False
    node_id = int(parts[1])
    return node_id < len(ir.nodes) and _scale(ir.nodes[node_id])


def write_weights(path, ir: IRGraph, values: dict, *, graph_file: str | None = None,
                  dtypes: dict | None = None):
    """Write ``values`` (``{key: array or number}``, exactly :func:`weight_shapes`' keys
    and shapes) as the store of ``ir``."""
    import numpy as np

    wanted = weight_shapes(ir)
    missing = [k for k in wanted if k not in values]
    extra = [k for k in values if k not in wanted]
    if missing or extra:
        raise UsageError(Rule.DESCRIPTION_VALUE, where="the weight store",
                         detail=f"missing {missing[:8]}, extra {extra[:8]}")
    params, meta = {}, {"format": WEIGHTS_FORMAT}
    if graph_file is not None:
        meta["graph"] = graph_file
    for name, shape in wanted.items():
        array = np.asarray(values[name], dtype=np.float64)
        if array.shape != shape:
            raise UsageError(Rule.SHAPE_MATCH, op="the weight store", name=name,
                             expected=list(shape), got=list(array.shape))
        params[name] = tensor_to_json(array, name)
        meta[name] = {"shape": list(shape),
                      "dtype": (dtypes or {}).get(name, "torch.float64")}
    return write_json(path, {"params": params, "meta": meta}, sort_keys=True)
