"""A PyTorch module as a ``torchlean.ir.v1`` graph and its weight store, through
``torch.export``.

The module is exported in eval mode on an example input; the graph's input is the
exported program's ``USER_INPUT`` (``ep.graph_signature``), never the first placeholder
(a lifted parameter comes first). Each ATen call is mapped by its exact overload (never by
a name prefix: ``aten.expand`` is not ``exp``, ``log_softmax`` is not ``log``); an op or an
option the IR cannot express (dilation, groups, ``ceil_mode``, ``padding='same'``,
division, ...) is an error that names it and where it sits, never dropped.

Batch axis: the IR has none (``conv2d`` and the pools take one image ``[C, H, W]``). The
example's first axis is the batch and must be 1 (``batch=False`` reads the example as the
IR's own shape); a tensor carrying that axis becomes the IR tensor without it, and an op
that acts on it (a reduction, a softmax, a permutation or a concatenation along it) is
refused. Lifted parameters used as data, and Python scalars, become ``const`` nodes;
PyTorch's broadcasting becomes ``reshape`` and ``broadcast_to`` nodes (the IR broadcasts
nothing implicitly).
"""

from __future__ import annotations

import math

from nnbridge.spec.errors import Rule, UsageError

from .aten import SUPPORTED, Emitter, Param, Unsupported, Value, handlers, op_name
from .ir import FORMAT, parse_ir

__all__ = ["SUPPORTED", "export_module"]


def _where(node) -> str:
    """``module.path (Type) at file:line`` for an exported node."""
    stack = node.meta.get("nn_module_stack") or {}
    path = ""
    if stack:
        path, kind = list(stack.values())[-1]
        kind = getattr(kind, "__name__", None) or str(kind).rsplit(".", 1)[-1].strip("'>")
        path = f"{path or 'the model'} ({kind})"
    site = ""
    lines = (node.meta.get("stack_trace") or "").strip().splitlines()
    for i, text in enumerate(lines):
        text = text.strip()
        if text.startswith("File ") and "/torch/" not in text:
            parts = text.split(", ")
            file = parts[0].removeprefix("File ").strip('"').rsplit("/", 1)[-1]
            line = parts[1].removeprefix("line ") if len(parts) > 1 else "?"
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            site = f"{file}:{line}" + (f": {code}" if code and not code.startswith("File ")
                                       else "")
    return ", at ".join(p for p in (path or "the model's forward", site) if p)


def _bind(node) -> dict:
    """The call's arguments by name, defaults filled in (the op's schema)."""
    schema = node.target._schema
    values = {}
    for i, a in enumerate(schema.arguments):
        if i < len(node.args):
            values[a.name] = node.args[i]
        elif a.name in node.kwargs:
            values[a.name] = node.kwargs[a.name]
        elif a.has_default_value():
            values[a.name] = a.default_value
        else:
            values[a.name] = None
    return values


_HANDLERS: dict = {}


def _fail(detail: str, where: str) -> UsageError:
    return UsageError(Rule.UNKNOWN_OP, where=where, detail=detail,
                      fix="docs/torchlean.md lists what torchlean.ir.v1 expresses and how "
                          "each PyTorch op maps")


_EXAMPLE_FIX = ("give the example batch first, with a batch of 1: 1,3,32,32 (or --no-batch for "
                "the IR's own input shape)")


def _check_example(example_shape, batch: bool) -> tuple:
    shape = tuple(example_shape) if isinstance(example_shape, (tuple, list)) else None
    if shape is None or not shape or any(
            isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 2**31 for s in shape):
        raise UsageError(Rule.INPUT_SIZE, detail=f"example_shape must be positive integers, "
                                                 f"e.g. (1, 3, 32, 32), got {example_shape!r}",
                         fix=_EXAMPLE_FIX)
    if batch and shape[0] != 1:
        raise UsageError(Rule.INPUT_SIZE, detail=f"the example's batch is {shape[0]}: the IR "
                                                 "has no batch axis, give a batch of 1",
                         fix=_EXAMPLE_FIX)
    if math.prod(shape) > 2**28:
        raise UsageError(Rule.WORK_LIMIT, name="the example's elements", value=math.prod(shape),
                         limit=2**28, detail="the example is built in memory")
    return shape


def export_module(module, example_shape, *, batch: bool = True):
    """``(graph, weights, dtypes)``: the checked :class:`~nnbridge.torchlean.ir.IRGraph` of
    ``module`` exported on an input of ``example_shape``, its weight store
    (``{"nodes.<id>.<name>": array}``) and the source dtypes.

    Raises
    ------
    UsageError
        ``unknown_op`` naming an op or option the IR cannot express and where it sits;
        ``model_trace`` where ``torch.export`` fails; ``input_size`` for a bad example.
    """
    try:
        import torch
    except ImportError:
        raise UsageError(Rule.MODEL_LOAD, spec=type(module).__name__,
                         detail="PyTorch is not installed: pip install 'nnbridge[torch]'") \
            from None
    if not isinstance(module, torch.nn.Module):
        raise UsageError(Rule.DESCRIPTION_VALUE, where="export",
                         detail=f"a torch.nn.Module is needed, got {type(module).__name__}")
    shape = _check_example(example_shape, batch)
    if not _HANDLERS:
        _HANDLERS.update(handlers(torch))
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        example = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        try:
            ep = torch.export.export(module, (example,))
        except Exception as exc:  # torch.export raises many kinds; each is one clear error
            text = " ".join(str(exc).split())[:300]
            raise UsageError(Rule.MODEL_TRACE, where=type(module).__name__,
                             detail=f"torch.export failed: {type(exc).__name__}: {text}",
                             fix="check that the module runs on an input of example_shape "
                                 f"{shape}") from None
    finally:
        for m, was in modes.items():
            m.training = was
    return _convert(torch, ep, shape, batch, type(module).__name__)


def _convert(torch, ep, shape: tuple, batch: bool, name: str):
    from torch.export.graph_signature import InputKind, OutputKind

    sig = ep.graph_signature
    user = [s.arg.name for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
    if len(user) != 1:
        raise _fail(f"the model takes {len(user)} tensor inputs; the IR has one", name)
    bad = [s for s in sig.output_specs if s.kind != OutputKind.USER_OUTPUT]
    if bad:
        raise _fail(f"the forward mutates {bad[0].target} ({bad[0].kind.name}): the IR "
                    "is a pure function", name)
    lifted = {}
    for s in sig.input_specs:
        if s.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            lifted[s.arg.name] = ep.state_dict.get(s.target, ep.constants.get(s.target))
        elif s.kind == InputKind.CONSTANT_TENSOR:
            lifted[s.arg.name] = ep.constants[s.target]
    ex = Emitter(torch, ep, batch)
    env: dict = {}
    input_id = None
    output = None
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if node.name == user[0]:
                input_id = ex.emit("input", [], shape[1:] if batch else shape)
                env[node] = Value(input_id, batch, shape)
            elif node.name in lifted:
                env[node] = Param(node.name, lifted[node.name])
            else:
                raise _fail(f"an input {node.name!r} that is neither the user's nor a "
                            "parameter", name)
            continue
        if node.op == "output":
            outs = node.args[0]
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            if len(outs) != 1:
                raise _fail(f"the forward returns {len(outs)} values; the IR has one output",
                            name)
            output = env[outs[0]] if hasattr(outs[0], "op") else outs[0]
            continue
        where = _where(node)
        op = op_name(node.target)
        if node.op != "call_function":
            raise _fail(f"{node.op} {op!r} is not in torchlean.ir.v1", where)
        handler = _HANDLERS.get(node.target)
        if handler is None:
            raise _fail(f"{op} is not in torchlean.ir.v1; the exporter maps: "
                        f"{', '.join(SUPPORTED)}", where)
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise _fail(f"{op} returns {type(val).__name__}, not one tensor", where)
        try:
            ex._float(val, f"the result of {op}")
            bound = {k: _env(env, v) for k, v in _bind(node).items()}
            env[node] = handler(ex, node, bound, tuple(int(s) for s in val.shape))
        except Unsupported as exc:
            raise _fail(f"{op}: {exc.detail}", where) from None
    output = ex.value(output) if isinstance(output, Param) else output
    if not isinstance(output, Value):
        raise _fail(f"the forward returns {type(output).__name__}, not a tensor", name)
    return _finish(ex, input_id, output.id, name)


def _env(env, value):
    if isinstance(value, (list, tuple)):
        return type(value)(_env(env, v) for v in value)
    return env[value] if hasattr(value, "op") and value in env else value


def _finish(ex: Emitter, input_id: int, output_id: int, name: str):
    """Keep the nodes the output reads (and the input), renumbered; check the result."""
    keep = {input_id, output_id}
    for node in reversed(ex.nodes):
        if node["id"] in keep:
            keep.update(node["parents"])
    new = {old: i for i, old in enumerate(sorted(keep))}
    nodes = []
    for node in ex.nodes:
        if node["id"] in new:
            nodes.append(dict(node, id=new[node["id"]],
                              parents=[new[p] for p in node["parents"]]))
    weights, dtypes = {}, {}
    for key, value in ex.weights.items():
        _, old, field_name = key.split(".")
        if int(old) in new:
            renamed = f"nodes.{new[int(old)]}.{field_name}"
            weights[renamed] = value
            if key in ex.dtypes:
                dtypes[renamed] = ex.dtypes[key]
    data = {"format": FORMAT, "input_id": new[input_id], "output_id": new[output_id],
            "nodes": nodes}
    try:
        graph = parse_ir(data, source=name)
    except UsageError as exc:  # pragma: no cover - the exporter emits only accepted graphs
        raise UsageError(Rule.UNKNOWN_OP, where=name,
                         detail=f"the exported graph fails TorchLean's check: {exc}") from None
    return graph, weights, dtypes
