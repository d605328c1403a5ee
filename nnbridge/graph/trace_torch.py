"""An ``nn.Module`` as a network graph, traced with torch.fx: no forward pass on data.

:func:`from_torch` traces the module symbolically (``torch.fx``), then reads each traced
call as a graph node: layers from their modules' hyper-parameters (every PyTorch option of
conv, transposed conv and pooling), and the size arithmetic a ``forward`` does on
``x.shape`` / ``x.size()`` (the "pad the up-sampled map to the skip" idiom, a crop's bounds)
as size expressions, so that the amounts are what the formulas compute for every size.

Some modules cannot be traced as they are written and are read by their meaning instead:
MONAI's ``UpCat`` (its pad to the skip branches on sizes), einops' ``Rearrange`` (a
pattern). A call the graph does not know is an error that names it and where it sits
(the module path, the file and line), never a silent pass; so is a ``forward`` that FX
cannot trace (control flow on sizes).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from nnbridge.spec.errors import Rule, UsageError

from .core import Graph, Node, Size, const, dim_of

__all__ = ["from_torch"]


@dataclass(frozen=True)
class _Tensor:
    name: str  # the graph node


@dataclass(frozen=True)
class _Shape:
    tensor: str
    rank: int

    def item(self, i: int) -> Size:
        if not -self.rank <= i < self.rank:
            raise IndexError(i)
        return dim_of(self.tensor, i % self.rank)

    def items(self, index) -> tuple:
        return tuple(dim_of(self.tensor, i) for i in range(self.rank)[index])


def _tuple(value, rank: int) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) == 1 and rank > 1:
            return tuple(value) * rank
        return tuple(value)
    return (value,) * rank


def _rank_of_class(module) -> int:
    """1, 2 or 3 from a class name like ``Conv2d``, ``MaxPool3d``."""
    name = type(module).__name__
    for d in (1, 2, 3):
        if name.endswith(f"{d}d"):
            return d
    return 0


class _Converter:
    """Reads traced FX graphs into nnbridge graph nodes."""

    def __init__(self, root, spatial_dims: int):
        import torch

        self.torch = torch
        self.root = root
        self.spatial_dims = spatial_dims
        self.nodes: list[Node] = [Node("input", "input", where="input")]
        self.ranks: dict[str, int] = {"input": spatial_dims + 2}
        self.used: set[str] = {"input"}

    # -- nodes --------------------------------------------------------------------------
    def add(self, op: str, inputs, where: str, name: str, rank: int, **params) -> _Tensor:
        base = name
        unique, k = base, 1
        while unique in self.used:
            k += 1
            unique = f"{base}#{k}"
        self.used.add(unique)
        self.nodes.append(Node(unique, op, tuple(t.name for t in inputs), params, where))
        self.ranks[unique] = rank
        return _Tensor(unique)

    def rank(self, t: _Tensor) -> int:
        return self.ranks[t.name]

    def unknown(self, where: str, what: str):
        raise UsageError(Rule.UNKNOWN_OP, where=where,
                         detail=f"{what} is not an op the size graph knows; supported: "
                                "conv, transposed conv, pooling (max, avg, adaptive), "
                                "upsample/interpolate, pad, slicing, cat, add/mul, norms, "
                                "activations, dropout, linear, flatten/view/reshape, "
                                "permute/transpose, einsum/matmul, einops rearrange")

    # -- tracing ------------------------------------------------------------------------
    def trace(self, module, path: str):
        """The FX graph of ``module``; a clear error where FX cannot trace it."""
        torch = self.torch
        tracer = _make_tracer(torch)
        patched = _patch_checks(tracer, module)
        try:
            graph = tracer.trace(module)
        except Exception as exc:  # FX raises many kinds; each becomes one clear error
            raise _trace_error(exc, tracer, module, path) from None
        finally:
            for attr in patched:
                delattr(module, attr)
        return graph

    def run_module(self, module, path: str, args: list):
        """Convert ``module`` called on ``args`` (values of this converter)."""
        graph = self.trace(module, path)
        env: dict = {}
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for i, ph in enumerate(placeholders):
            if i < len(args):
                env[ph] = args[i]
            else:
                env[ph] = ph.args[0] if ph.args else None  # a default argument
        result = None
        for n in graph.nodes:
            if n.op == "placeholder":
                continue
            where = _where(n, path)
            value = self._arg(n.args, env), self._arg(n.kwargs, env)
            a, kw = value
            if n.op == "get_attr":
                env[n] = self.get_attr(module, n.target, where, n.name, path)
            elif n.op == "call_module":
                sub = module.get_submodule(n.target)
                full = f"{path}.{n.target}" if path else n.target
                env[n] = self.call_module(sub, full, a, kw)
            elif n.op == "call_function":
                env[n] = self.call_function(n.target, a, kw, where, _name(path, n.name))
            elif n.op == "call_method":
                env[n] = self.call_method(n.target, a, kw, where, _name(path, n.name))
            elif n.op == "output":
                result = a[0]
        return result

    def _arg(self, value, env):
        from torch.fx.node import map_arg

        return map_arg(value, lambda node: env[node])

    def get_attr(self, module, target, where, name, path):
        value = module
        for part in target.split("."):
            value = getattr(value, part)
        if isinstance(value, self.torch.Tensor):
            shape = tuple(int(s) for s in value.shape)
            return self.add("const", [], where, _name(path, name), len(shape), shape=shape)
        return value

    # -- modules ------------------------------------------------------------------------
    def call_module(self, m, path: str, args, kwargs):
        nn = self.torch.nn
        handler = _module_handler(m)
        if handler is not None:
            return handler(self, m, path, args, kwargs)
        if isinstance(m, nn.Module) and not type(m).__module__.startswith("torch.nn"):
            return self.run_module(m, path, list(args))  # a custom leaf: trace inside
        self.unknown(f"{path} ({type(m).__name__})", f"module {type(m).__name__}")

    # -- functions and methods ------------------------------------------------------------
    def call_function(self, fn, args, kwargs, where, name):
        handler = _FUNCTIONS.get(fn)
        if handler is None:
            label = getattr(fn, "__qualname__", None) or repr(fn)
            module_name = getattr(fn, "__module__", "") or ""
            self.unknown(where, f"function {module_name + '.' if module_name else ''}{label}")
        return handler(self, args, kwargs, where, name)

    def call_method(self, method, args, kwargs, where, name):
        obj = args[0]
        if isinstance(obj, _Tensor):
            handler = _METHODS.get(method)
            if handler is None:
                self.unknown(where, f"tensor method .{method}()")
            return handler(self, args, kwargs, where, name)
        if isinstance(obj, (int, Size)) and method in _SIZE_METHODS:
            return _SIZE_METHODS[method](*args)
        self.unknown(where, f"method .{method}() on {type(obj).__name__}")


def _name(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _where(node, path: str) -> str:
    """``module.path (file:line)`` for a traced node."""
    stack = node.meta.get("nn_module_stack") or {}
    inner = list(stack.keys())[-1] if stack else ""
    full = ".".join(p for p in (path, inner) if p) or "the model's forward"
    frames = _frames(node.meta.get("stack_trace") or "")
    if frames:
        file, line, code = frames[-1]
        site = f"{file.rsplit('/', 1)[-1]}:{line}" + (f": {code}" if code else "")
        return f"{full} ({site})"
    return full


def _frames(stack_trace: str) -> list[tuple[str, str, str]]:
    """``(file, line, code)`` of each frame of a recorded stack trace outside torch."""
    found = []
    lines = stack_trace.strip().splitlines()
    for i, text in enumerate(lines):
        text = text.strip()
        if not text.startswith("File "):
            continue
        parts = text.split(", ")
        file = parts[0].removeprefix("File ").strip('"')
        line = parts[1].removeprefix("line ") if len(parts) > 1 else "?"
        code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip(
            ).startswith("File ") else ""
        if "/torch/" not in file:
            found.append((file, line, code))
    return found


def _make_tracer(torch):
    leaves = tuple(_LEAF_TYPES())

    class Tracer(torch.fx.Tracer):
        def __init__(self):
            super().__init__()
            self.record_stack_traces = True

        def is_leaf_module(self, m, qualname):
            return isinstance(m, leaves) or super().is_leaf_module(m, qualname)

    return Tracer()


def _divisible_by(sizes, multiple):
    """Recorded in a traced graph in place of a module's own size check: every size in
    ``sizes`` is a multiple of ``multiple`` (the module raises otherwise)."""
    raise RuntimeError("a marker for traced graphs, never called")  # pragma: no cover


def _patch_checks(tracer, module) -> list[str]:
    """Replace the size checks a module makes with numpy (which FX cannot trace) by a
    recorded call of the same meaning; the attributes set, to delete after tracing."""
    name, where = type(module).__name__, type(module).__module__
    if name == "SwinUNETR" and where.startswith("monai.") and hasattr(module, "patch_size"):
        multiple = int(module.patch_size) ** 5  # MONAI: divisible by patch_size**5

        def check(spatial_shape):
            tracer.create_proxy("call_function", _divisible_by, (spatial_shape, multiple), {})

        object.__setattr__(module, "_check_input_size", check)
        return ["_check_input_size"]
    return []


def _divisible_fn(c: _Converter, args, kwargs, where, name):
    sizes, multiple = args
    sizes = sizes if isinstance(sizes, (tuple, list)) else (sizes,)
    for i, size in enumerate(sizes):
        if not isinstance(size, Size) or size.op != "dim":
            c.unknown(where, "a size check on values that are not a tensor's sizes")
        tensor, axis = size.args
        c.add("require", [_Tensor(tensor)], where, f"{name}.{i}", c.ranks[tensor],
              relation="divides", a=const(multiple), b=size, kind="check",
              names=("multiple", "size"),
              statement=f"the model requires spatial dim {axis} divisible by {multiple}")
    return None


def _trace_error(exc, tracer, module, path) -> UsageError:
    import traceback

    stack = getattr(tracer, "module_stack", None) or {}
    inner = list(stack.keys())[-1] if stack else ""
    where = ".".join(p for p in (path, inner) if p) or type(module).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/torch/" not in f.filename]
    site = ""
    if frames:
        f = frames[-1]
        site = f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno}: {(f.line or '').strip()}"
    text = " ".join(str(exc).split())[:200]
    if "control flow" in text or "bool" in text.lower():
        construct = "Python control flow on a traced tensor or size (an `if` on x.shape)"
    elif "len" in text and "not supported" in text:
        construct = "len() of a traced value"
    else:
        construct = f"{type(exc).__name__}: {text}"
    return UsageError(Rule.MODEL_TRACE, where=f"{where}{site}",
                      detail=f"torch.fx cannot trace {construct}")


# -- module handlers ---------------------------------------------------------------------
def _conv_module(c: _Converter, m, path, args, kwargs):
    x = args[0]
    d = len(m.kernel_size)
    transposed = "Transpose" in type(m).__name__
    if transposed and (len(args) > 1 or kwargs.get("output_size") is not None):
        c.unknown(path, "ConvTranspose with output_size")
    padding = m.padding
    if isinstance(padding, str):
        padding = "same" if padding == "same" else (0,) * d
    else:
        padding = _tuple(padding, d)
    if not transposed and m.padding_mode != "zeros" and padding != "same":
        # PyTorch pads with F.pad(mode) and convolves unpadded
        amounts = []
        for p in reversed(padding):
            amounts += [p, p]
        mode = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}[
            m.padding_mode]
        x = c.add("pad", [x], path, f"{path}.pad", c.rank(x), amounts=tuple(amounts),
                  mode=mode)
        padding = (0,) * d
    params = dict(kernel=_tuple(m.kernel_size, d), stride=_tuple(m.stride, d),
                  padding=padding, dilation=_tuple(m.dilation, d), groups=m.groups,
                  in_channels=m.in_channels, out_channels=m.out_channels)
    if transposed:
        params["output_padding"] = _tuple(m.output_padding, d)
        return c.add("conv_transpose", [x], path, path, c.rank(x), **params)
    return c.add("conv", [x], path, path, c.rank(x), **params)


def _pool_module(c: _Converter, m, path, args, kwargs):
    x = args[0]
    d = _rank_of_class(m)
    kind = "max" if "Max" in type(m).__name__ else "avg"
    stride = m.stride if m.stride is not None else m.kernel_size
    out = c.add("pool", [x], path, path, c.rank(x), kind=kind, kernel=_tuple(m.kernel_size, d),
                stride=_tuple(stride, d), padding=_tuple(m.padding, d),
                dilation=_tuple(getattr(m, "dilation", 1), d),
                ceil_mode=bool(m.ceil_mode))
    if getattr(m, "return_indices", False):
        return (out, out)
    return out


def _adaptive_module(c: _Converter, m, path, args, kwargs):
    x = args[0]
    d = _rank_of_class(m)
    out = c.add("adaptive_pool", [x], path, path, c.rank(x), output=_tuple(m.output_size, d))
    return (out, out) if getattr(m, "return_indices", False) else out


def _upsample_module(c: _Converter, m, path, args, kwargs):
    return _interpolate(c, args[0], m.size, m.scale_factor, path, path)


def _interpolate(c: _Converter, x, size, scale, where, name):
    d = c.rank(x) - 2
    if size is not None:
        size = size if isinstance(size, (tuple, list)) else (size,) * d
        return c.add("interpolate", [x], where, name, c.rank(x), size=tuple(size))
    if scale is None:
        c.unknown(where, "interpolate without size or scale_factor")
    scales = _tuple(scale, d)
    return c.add("interpolate", [x], where, name, c.rank(x),
                 scale=tuple(_fraction(s) for s in scales))


def _fraction(value):
    from fractions import Fraction

    f = Fraction(value)
    # a float scale such as 1/3: the nearest small fraction (PyTorch computes in double)
    return f if f.denominator <= 1024 else f.limit_denominator(1024)


def _norm_module(c: _Converter, m, path, args, kwargs):
    x = args[0]
    name = type(m).__name__
    if name.startswith("BatchNorm") or name == "SyncBatchNorm":
        return c.add("norm", [x], path, path, c.rank(x), kind="batch",
                     running_stats=bool(m.track_running_stats))
    if name.startswith("InstanceNorm"):
        return c.add("norm", [x], path, path, c.rank(x), kind="instance",
                     running_stats=bool(m.track_running_stats))
    if name == "GroupNorm":
        return c.add("norm", [x], path, path, c.rank(x), kind="group", groups=m.num_groups)
    if name == "LayerNorm":
        return _layer_norm(c, x, tuple(m.normalized_shape), path, path)
    return c.add("same", [x], path, path, c.rank(x))


def _layer_norm(c: _Converter, x, normalized, where, name):
    rank = c.rank(x)
    y = x
    for i, size in enumerate(normalized):
        axis = rank - len(normalized) + i
        y = c.add("require", [y], where, f"{name}.shape{i}", rank, relation="eq",
                  a=dim_of(x.name, axis), b=const(size), kind="agree", names=("dim", "shape"),
                  statement=f"layer norm: dim {axis} is its normalized size {size}")
    return c.add("norm", [y], where, name, rank, kind="layer")


def _same_module(c: _Converter, m, path, args, kwargs):
    return c.add("same", [args[0]], path, path, c.rank(args[0]))


def _linear_module(c: _Converter, m, path, args, kwargs):
    x = args[0]
    return c.add("linear", [x], path, path, c.rank(x), in_features=m.in_features,
                 out_features=m.out_features)


def _flatten_module(c: _Converter, m, path, args, kwargs):
    return _flatten(c, args[0], m.start_dim, m.end_dim, path, path)


def _flatten(c: _Converter, x, start, end, where, name):
    rank = c.rank(x)
    s, e = start % rank, end % rank
    return c.add("flatten", [x], where, name, rank - (e - s), start=s, end=e)


def _upcat_module(c: _Converter, m, path, args, kwargs):
    """MONAI's ``UpCat``: up-sample, pad the end of each axis by 1 where the skip is
    larger (``replicate``), concatenate ``[skip, up]``, convolve."""
    x, x_e = (list(args) + [kwargs.get("x_e")])[:2]
    up = c.run_module(m.upsample, f"{path}.upsample", [x])
    if x_e is not None:
        if m.is_pad:
            rank = c.rank(up)
            amounts = []
            for axis in reversed(range(2, rank)):
                amounts += [0, Size("ne", (dim_of(x_e.name, axis), dim_of(up.name, axis)))]
            up = c.add("pad", [up], path, f"{path}.pad", rank, amounts=tuple(amounts),
                       mode="replicate")
        up = c.add("cat", [x_e, up], path, f"{path}.cat", c.rank(up), dim=1)
    return c.run_module(m.convs, f"{path}.convs", [up])


def _rearrange_module(c: _Converter, m, path, args, kwargs):
    """einops' ``Rearrange(pattern, **lengths)``: split the input's groups into letters,
    permute, merge the output's groups."""
    x = args[0]
    pattern = m.pattern
    lengths = dict(m.axes_lengths)
    left, _, right = pattern.partition("->")
    lgroups, rgroups = _groups(left), _groups(right)
    rank = c.rank(x)
    if len(lgroups) != rank:
        c.unknown(path, f"rearrange {pattern!r} on a {rank}-axis tensor")
    sizes: dict = {}
    atoms = []
    for i, group in enumerate(lgroups):
        known = [g for g in group if g in lengths]
        unknown = [g for g in group if g not in lengths]
        if len(unknown) > 1:
            c.unknown(path, f"rearrange {pattern!r}: two unknown lengths in one group")
        for g in known:
            sizes[g] = const(lengths[g])
        if unknown:
            product = math.prod(lengths[g] for g in known)
            sizes[unknown[0]] = dim_of(x.name, i) // product
        atoms += group
    split = c.add("reshape", [x], path, f"{path}.split", len(atoms),
                  sizes=tuple(sizes[a] for a in atoms))
    order = [a for g in rgroups for a in g]
    if sorted(order) != sorted(atoms):
        c.unknown(path, f"rearrange {pattern!r} (repeats or new axes)")
    moved = c.add("permute", [split], path, f"{path}.permute", len(atoms),
                  dims=tuple(atoms.index(a) for a in order))
    merged = []
    for g in rgroups:
        size = const(1)
        for a in g:
            size = size * sizes[a]
        merged.append(size)
    return c.add("reshape", [moved], path, f"{path}.merge", len(rgroups), sizes=tuple(merged))


def _patch_embed_module(c: _Converter, m, path, args, kwargs):
    """MONAI's ``PatchEmbed``: pad the end of each axis to a multiple of the patch, then
    the patch convolution (kernel = stride = patch); an optional norm keeps the shape."""
    x = args[0]
    rank = c.rank(x)
    patch = _tuple(m.patch_size, rank - 2)
    amounts = []
    for axis in reversed(range(2, rank)):
        p = int(patch[axis - 2])
        amounts += [0, (p - dim_of(x.name, axis) % p) % p]
    x = c.add("pad", [x], path, f"{path}.pad", rank, amounts=tuple(amounts), mode="constant")
    x = c.call_module(m.proj, f"{path}.proj", [x], {})
    if getattr(m, "norm", None) is not None:
        x = c.add("same", [x], path, f"{path}.norm", rank)
    return x


def _swin_layer_module(c: _Converter, m, path, args, kwargs):
    """MONAI's Swin ``BasicLayer``: window-attention blocks keep the size (each pads to its
    window and crops back), then the patch merging pads each axis to even and halves it
    (a 2x..x2 space-to-depth and a linear map to twice the channels)."""
    x = args[0]
    rank = c.rank(x)
    x = c.add("same", [x], path, f"{path}.blocks", rank)
    down = getattr(m, "downsample", None)
    if down is None:
        return x
    amounts = []
    for axis in reversed(range(2, rank)):
        amounts += [0, dim_of(x.name, axis) % 2]
    x = c.add("pad", [x], f"{path}.downsample", f"{path}.downsample.pad", rank,
              amounts=tuple(amounts), mode="constant")
    channels = int(down.dim)
    return c.add("conv", [x], f"{path}.downsample", f"{path}.downsample", rank,
                 kernel=(2,) * (rank - 2), stride=(2,) * (rank - 2), padding=(0,) * (rank - 2),
                 dilation=(1,) * (rank - 2), groups=1, in_channels=channels,
                 out_channels=2 * channels)


def _swin_transformer_module(c: _Converter, m, path, args, kwargs):
    """MONAI's ``SwinTransformer``: the patch embedding, then four layers; returns the five
    hidden states (``proj_out`` is a layer norm over channels: the shape is kept)."""
    x = args[0]
    x = c.call_module(m.patch_embed, f"{path}.patch_embed", [x], {})
    outs = [c.add("same", [x], path, f"{path}.proj_out0", c.rank(x))]
    for i in range(1, 5):
        if getattr(m, "use_v2", False):
            block = getattr(m, f"layers{i}c")[0]
            x = c.call_module(block, f"{path}.layers{i}c.0", [x], {})
        layer = getattr(m, f"layers{i}")[0]
        x = c.call_module(layer, f"{path}.layers{i}.0", [x], {})
        outs.append(c.add("same", [x], path, f"{path}.proj_out{i}", c.rank(x)))
    return outs


def _groups(side: str) -> list[list[str]]:
    groups, current, inside = [], [], False
    for token in side.replace("(", " ( ").replace(")", " ) ").split():
        if token == "(":
            inside, current = True, []
        elif token == ")":
            inside = False
            groups.append(current)
        elif inside:
            current.append(token)
        else:
            groups.append([token])
    return groups


_ELEMENTWISE_MODULES = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
    "Mish", "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign",
    "Softmax", "Softmax2d", "LogSoftmax", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "FeatureAlphaDropout", "Identity", "Tanhshrink", "Threshold",
    "LogSigmoid", "Softshrink", "Hardshrink",
)


def _module_handler(m):
    name = type(m).__name__
    module = type(m).__module__
    if module.startswith("torch.nn"):
        if name in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                    "ConvTranspose3d"):
            return _conv_module
        if name in ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d",
                    "AvgPool3d"):
            return _pool_module
        if name.startswith("Adaptive") and "Pool" in name:
            return _adaptive_module
        if name in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"):
            return _upsample_module
        if "Norm" in name:
            return _norm_module
        if name in _ELEMENTWISE_MODULES:
            return _same_module
        if name == "Linear":
            return _linear_module
        if name == "Flatten":
            return _flatten_module
        return None
    if name == "UpCat" and module.startswith("monai."):
        return _upcat_module
    if name == "Rearrange" and module.startswith("einops"):
        return _rearrange_module
    if module.startswith("monai.networks"):
        return {"SwinTransformer": _swin_transformer_module, "PatchEmbed": _patch_embed_module,
                "BasicLayer": _swin_layer_module}.get(name)
    return None


def _LEAF_TYPES():
    """Modules read by their meaning, not traced through."""
    found = []
    try:
        from monai.networks.nets.basic_unet import UpCat

        found.append(UpCat)
    except Exception:  # MONAI absent or moved: nothing to read
        pass
    try:
        from monai.networks.blocks.patchembedding import PatchEmbed
        from monai.networks.nets.swin_unetr import BasicLayer, SwinTransformer

        found += [SwinTransformer, PatchEmbed, BasicLayer]
    except Exception:  # MONAI absent or moved
        pass
    try:
        from einops.layers.torch import Rearrange

        found.append(Rearrange)
    except Exception:  # einops absent
        pass
    return found


# -- functions ---------------------------------------------------------------------------
def _is_tensor(v) -> bool:
    return isinstance(v, _Tensor)


def _binary(fn_name, python_op):
    def handler(c: _Converter, args, kwargs, where, name):
        a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
        tensors = [v for v in (a, b) if _is_tensor(v)]
        if tensors:
            if len(tensors) == 1:
                return c.add("same", tensors, where, name, c.rank(tensors[0]))
            return c.add("broadcast", tensors, where, name,
                         max(c.rank(t) for t in tensors), fn=fn_name)
        return python_op(a, b)

    return handler


def _unary_same(c: _Converter, args, kwargs, where, name):
    x = args[0]
    if not _is_tensor(x):
        c.unknown(where, "an elementwise function on a non-tensor")
    return c.add("same", [x], where, name, c.rank(x))


def _neg(c, args, kwargs, where, name):
    x = args[0]
    if _is_tensor(x):
        return c.add("same", [x], where, name, c.rank(x))
    return -x


def _cat(c: _Converter, args, kwargs, where, name):
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not all(_is_tensor(t) for t in tensors):
        c.unknown(where, "cat of non-tensors")
    return c.add("cat", tensors, where, name, c.rank(tensors[0]), dim=dim)


def _pad(c: _Converter, args, kwargs, where, name):
    x = args[0]
    amounts = tuple(args[1] if len(args) > 1 else kwargs["pad"])
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    return c.add("pad", [x], where, name, c.rank(x), amounts=amounts, mode=mode)


def _interpolate_fn(c: _Converter, args, kwargs, where, name):
    names = ("input", "size", "scale_factor")
    values = dict(zip(names, args, strict=False)) | kwargs
    return _interpolate(c, values["input"], values.get("size"), values.get("scale_factor"),
                        where, name)


def _pool_fn(kind, d):
    def handler(c: _Converter, args, kwargs, where, name):
        names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
        v = dict(zip(names, args, strict=False)) | kwargs
        x = v["input"]
        stride = v.get("stride") or v["kernel_size"]
        return c.add("pool", [x], where, name, c.rank(x), kind=kind,
                     kernel=_tuple(v["kernel_size"], d), stride=_tuple(stride, d),
                     padding=_tuple(v.get("padding", 0), d),
                     dilation=_tuple(v.get("dilation", 1), d),
                     ceil_mode=bool(v.get("ceil_mode", False)))

    return handler


def _adaptive_fn(d):
    def handler(c: _Converter, args, kwargs, where, name):
        x = args[0]
        output = args[1] if len(args) > 1 else kwargs["output_size"]
        return c.add("adaptive_pool", [x], where, name, c.rank(x), output=_tuple(output, d))

    return handler


def _getattr(c: _Converter, args, kwargs, where, name):
    obj, attr = args
    if _is_tensor(obj) and attr == "shape":
        return _Shape(obj.name, c.rank(obj))
    if _is_tensor(obj) and attr == "ndim":
        return c.rank(obj)
    if _is_tensor(obj) and attr in ("dtype", "device"):
        return None
    c.unknown(where, f"attribute .{attr}")


def _getitem(c: _Converter, args, kwargs, where, name):
    obj, index = args
    if isinstance(obj, _Shape):
        return obj.items(index) if isinstance(index, slice) else obj.item(index)
    if _is_tensor(obj):
        return _index(c, obj, index, where, name)
    if isinstance(obj, (tuple, list, dict)):
        return obj[index]
    c.unknown(where, f"indexing a {type(obj).__name__}")


def _index(c: _Converter, x: _Tensor, index, where, name):
    """``x[index]``: slices, ints, ``None`` and one ``...``."""
    items = list(index) if isinstance(index, tuple) else [index]
    rank = c.rank(x)
    if items.count(Ellipsis) > 1:
        c.unknown(where, "indexing with two '...'")
    if Ellipsis in items:
        k = items.index(Ellipsis)
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        items = items[:k] + [slice(None)] * (rank - used) + items[k + 1:]
    dim = 0
    out = x
    for j, item in enumerate(items):
        label = f"{name}.{j}" if len(items) > 1 else name
        if item is None:
            out = c.add("unsqueeze", [out], where, label, c.rank(out) + 1, dim=dim)
            dim += 1
        elif isinstance(item, slice):
            if item != slice(None):
                out = c.add("slice", [out], where, label, c.rank(out), dim=dim,
                            start=item.start, stop=item.stop, step=item.step)
            dim += 1
        elif isinstance(item, int):
            out = c.add("select", [out], where, label, c.rank(out) - 1, dim=dim)
        else:
            c.unknown(where, f"indexing with {type(item).__name__}")
    return out


def _size_method(c: _Converter, args, kwargs, where, name):
    x = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    shape = _Shape(x.name, c.rank(x))
    return shape if dim is None else shape.item(dim)


def _dim_method(c, args, kwargs, where, name):
    return c.rank(args[0])


def _sizes_arg(args):
    rest = args[1:]
    if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
        rest = rest[0]
    return tuple(rest)


def _reshape(c: _Converter, args, kwargs, where, name):
    x = args[0]
    sizes = _sizes_arg(args) if len(args) > 1 else tuple(kwargs.get("shape", ()))
    return c.add("reshape", [x], where, name, len(sizes), sizes=sizes)


def _flatten_fn(c: _Converter, args, kwargs, where, name):
    x = args[0]
    start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
    end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
    return _flatten(c, x, start, end, where, name)


def _permute(c: _Converter, args, kwargs, where, name):
    x = args[0]
    dims = _sizes_arg(args) if len(args) > 1 else tuple(kwargs["dims"])
    return c.add("permute", [x], where, name, c.rank(x), dims=dims)


def _transpose(c: _Converter, args, kwargs, where, name):
    x, a, b = args[0], args[1], args[2]
    return c.add("transpose", [x], where, name, c.rank(x), dim0=a, dim1=b)


def _unsqueeze(c: _Converter, args, kwargs, where, name):
    x = args[0]
    dim = args[1] if len(args) > 1 else kwargs["dim"]
    return c.add("unsqueeze", [x], where, name, c.rank(x) + 1, dim=dim)


def _matmul(c: _Converter, args, kwargs, where, name):
    a, b = args[0], args[1]
    return c.add("matmul", [a, b], where, name, max(c.rank(a), c.rank(b)))


def _einsum(c: _Converter, args, kwargs, where, name):
    equation, operands = args[0], args[1:]
    if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
        operands = tuple(operands[0])
    output = equation.replace(" ", "").partition("->")[2]
    return c.add("einsum", list(operands), where, name, len(output), equation=equation)


def _softmax(c: _Converter, args, kwargs, where, name):
    return c.add("same", [args[0]], where, name, c.rank(args[0]))


def _layer_norm_fn(c: _Converter, args, kwargs, where, name):
    x = args[0]
    normalized = args[1] if len(args) > 1 else kwargs["normalized_shape"]
    return _layer_norm(c, x, tuple(normalized), where, name)


def _sdpa(c: _Converter, args, kwargs, where, name):
    q, k, v = args[:3]
    scores = c.add("matmul", [q, c.add("transpose", [k], where, f"{name}.kt", c.rank(k),
                                       dim0=-2, dim1=-1)], where, f"{name}.scores", c.rank(q))
    return c.add("matmul", [scores, v], where, name, c.rank(q))


_SIZE_METHODS = {"__add__": operator.add, "__sub__": operator.sub, "__mul__": operator.mul,
                 "__floordiv__": operator.floordiv}


def _functions():
    import torch
    import torch.nn.functional as F

    table = {
        operator.add: _binary("add", operator.add),
        operator.sub: _binary("sub", operator.sub),
        operator.mul: _binary("mul", operator.mul),
        operator.truediv: _binary("div", operator.truediv),
        operator.floordiv: _binary("floordiv", operator.floordiv),
        operator.mod: _binary("mod", operator.mod),
        operator.neg: _neg,
        operator.getitem: _getitem,
        _divisible_by: _divisible_fn,
        operator.matmul: _matmul,
        getattr: _getattr,
        torch.add: _binary("add", operator.add),
        torch.sub: _binary("sub", operator.sub),
        torch.mul: _binary("mul", operator.mul),
        torch.div: _binary("div", operator.truediv),
        torch.cat: _cat,
        torch.concat: _cat,
        torch.matmul: _matmul,
        torch.bmm: _matmul,
        torch.einsum: _einsum,
        torch.flatten: _flatten_fn,
        torch.reshape: _reshape,
        torch.permute: _permute,
        torch.transpose: _transpose,
        torch.unsqueeze: _unsqueeze,
        torch.softmax: _softmax,
        F.softmax: _softmax,
        F.pad: _pad,
        F.interpolate: _interpolate_fn,
        F.upsample: _interpolate_fn,
        F.layer_norm: _layer_norm_fn,
        F.scaled_dot_product_attention: _sdpa,
        F.max_pool1d: _pool_fn("max", 1), F.max_pool2d: _pool_fn("max", 2),
        F.max_pool3d: _pool_fn("max", 3), F.avg_pool1d: _pool_fn("avg", 1),
        F.avg_pool2d: _pool_fn("avg", 2), F.avg_pool3d: _pool_fn("avg", 3),
        F.adaptive_avg_pool1d: _adaptive_fn(1), F.adaptive_avg_pool2d: _adaptive_fn(2),
        F.adaptive_avg_pool3d: _adaptive_fn(3), F.adaptive_max_pool1d: _adaptive_fn(1),
        F.adaptive_max_pool2d: _adaptive_fn(2), F.adaptive_max_pool3d: _adaptive_fn(3),
    }
    for fn in (torch.relu, torch.sigmoid, torch.tanh, F.relu, F.relu6, F.leaky_relu, F.gelu,
               F.silu, F.elu, F.selu, F.sigmoid, F.tanh, F.dropout, F.dropout1d, F.dropout2d,
               F.dropout3d, F.mish, F.hardswish, F.softplus, F.prelu, F.log_softmax,
               torch.exp, torch.log, torch.abs, torch.sqrt, torch.clamp):
        table[fn] = _unary_same
    return table


_METHODS = {
    "size": _size_method,
    "dim": _dim_method,
    "view": _reshape,
    "reshape": _reshape,
    "flatten": _flatten_fn,
    "permute": _permute,
    "transpose": _transpose,
    "unsqueeze": _unsqueeze,
    "softmax": _softmax,
    "add": _binary("add", operator.add),
    "mul": _binary("mul", operator.mul),
    "sub": _binary("sub", operator.sub),
    "div": _binary("div", operator.truediv),
    "matmul": _matmul,
    **{m: (lambda c, args, kwargs, where, name: c.add("same", [args[0]], where, name,
                                                      c.rank(args[0])))
       for m in ("contiguous", "clone", "float", "double", "half", "to", "detach", "relu",
                 "sigmoid", "tanh", "type_as", "exp", "abs", "sqrt", "clamp", "relu_",
                 "mul_", "add_", "neg")},
}

_FUNCTIONS: dict = {}


def from_torch(module, spatial_dims: int = 2, mode: str = "eval", batch: int = 1, *,
               output: str = "same", channels: int | None = None,
               name: str | None = None) -> Graph:
    """The size graph of ``module`` for inputs ``(batch, channels, *spatial_dims sizes)``.

    Traced with ``torch.fx`` in ``mode`` ("eval" or "train": a module's Python branches on
    ``self.training`` follow it; norms take statistics as they would). ``channels``
    defaults to the first convolution's ``in_channels``. The module's own mode is restored.

    Raises
    ------
    UsageError
        ``model_trace`` where FX cannot trace the forward (control flow on sizes), naming
        the module path and the line; ``unknown_op`` for a call the graph does not know,
        naming it and where it sits; ``description_value`` for bad arguments.
    """
    try:
        import torch
    except ImportError:
        raise UsageError(Rule.MODEL_LOAD, spec=type(module).__name__,
                         detail="PyTorch is not installed: pip install 'nnbridge[torch]'") \
            from None
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"from_torch needs a torch.nn.Module, got {type(module).__name__}",
                         rule=Rule.DESCRIPTION_VALUE)
    if (isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int)
            or spatial_dims not in (1, 2, 3)):
        raise UsageError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}",
                         rule=Rule.DESCRIPTION_VALUE)
    if mode not in ("eval", "train"):
        raise UsageError(f"mode must be 'eval' or 'train', got {mode!r}",
                         rule=Rule.DESCRIPTION_VALUE)
    if not _FUNCTIONS:
        _FUNCTIONS.update(_functions())
    if channels is None:
        from .running import first_in_channels

        channels = first_in_channels(module)
    elif isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= 2**31:
        raise UsageError(f"channels must be an integer in 1..2**31, got {channels!r}",
                         rule=Rule.DESCRIPTION_VALUE)
    modes = {m: m.training for m in module.modules()}
    module.train(mode == "train")
    try:
        c = _Converter(module, spatial_dims)
        result = c.run_module(module, "", [_Tensor("input")])
    finally:
        for m, was in modes.items():
            m.training = was
    if isinstance(result, (tuple, list)):
        result = next((r for r in result if _is_tensor(r)), None)
    elif isinstance(result, dict):
        result = next((r for r in result.values() if _is_tensor(r)), None)
    if not _is_tensor(result):
        raise UsageError(Rule.UNKNOWN_OP, where=type(module).__name__,
                         detail="the forward returns no tensor")
    return Graph(name or type(module).__name__, spatial_dims, tuple(c.nodes), result.name,
                 output, mode, batch, channels)
