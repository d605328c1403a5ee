"""A UNet description (TOML/JSON, presets) as a network graph.

The flow of :mod:`nnbridge.unet.description` becomes nodes named as the obligations of
reports have always been named: ``enc<i>_conv<j>``, ``down<i>``, ``bottom_conv<j>``,
``up<i>``, ``skip<i>``, ``dec<i>_conv<j>``, ``head``, ``input_divisible``, ``output``. Sizes
a network computes at run time (a crop's bounds, a pad to the skip's size, a resize to it)
are size expressions over the nodes they read.
"""

from __future__ import annotations

from .core import Graph, Node, const, dim_of

__all__ = ["from_description"]


def _on(value, axis: int):
    return value[axis] if isinstance(value, tuple) else value


def _per_axis(value, rank: int) -> tuple:
    return tuple(_on(value, i) for i in range(rank))


class _Builder:
    def __init__(self, desc):
        self.desc = desc
        self.rank = desc.spatial_dims
        self.nodes = [Node("input", "input", where="input")]
        self.last = "input"

    def add(self, name, op, inputs, where, **params) -> str:
        self.nodes.append(Node(name, op, tuple(inputs), params, where))
        return name

    def layer(self, name, layer, x, where, target=None) -> str:
        """One description layer applied to node ``x``; returns the output node."""
        r = self.rank
        kind = layer.kind
        if kind == "conv":
            out = self.add(name, "conv", [x], where, kernel=_per_axis(layer.kernel, r),
                           stride=_per_axis(layer.stride, r),
                           padding=_per_axis(layer.padding, r),
                           dilation=_per_axis(layer.dilation, r))
        elif kind == "pool":
            out = self.add(name, "pool", [x], where, kind=layer.op,
                           kernel=_per_axis(layer.kernel, r), stride=_per_axis(layer.stride, r),
                           padding=_per_axis(layer.padding, r),
                           dilation=_per_axis(layer.dilation, r), ceil_mode=layer.ceil_mode)
            if layer.exact:
                for i in range(r):
                    k, s = _on(layer.kernel, i), _on(layer.stride, i)
                    p, d = _on(layer.padding, i), _on(layer.dilation, i)
                    # the last window ends at the last cell: s divides n + 2p - d(k-1) - 1
                    self.add(f"{name}_exact" + (f"_{i}" if r > 1 else ""), "require", [out],
                             where, relation="divides", a=const(s),
                             b=dim_of(x, 2 + i) + (2 * p - d * (k - 1) - 1), kind="exact",
                             names=("stride", "in"),
                             statement=f"the pool drops nothing: {s} divides its input minus "
                                       "the window's reach", label=f"{name}_exact")
        elif kind == "conv_transpose":
            out = self.add(name, "conv_transpose", [x], where,
                           kernel=_per_axis(layer.kernel, r), stride=_per_axis(layer.stride, r),
                           padding=_per_axis(layer.padding, r),
                           output_padding=_per_axis(layer.output_padding, r),
                           dilation=_per_axis(layer.dilation, r))
        elif kind == "upsample":
            out = self.add(name, "interpolate", [x], where, scale=_per_axis(layer.scale, r))
        elif kind == "resize":
            out = self.add(name, "interpolate", [x], where,
                           size=tuple(dim_of(target, 2 + i) for i in range(r)))
        elif kind == "pad_to_skip":
            amounts = []
            for i in reversed(range(r)):
                diff = dim_of(target, 2 + i) - dim_of(x, 2 + i)
                amounts += [diff // 2, diff - diff // 2]
            out = self.add(name, "pad", [x], where, amounts=tuple(amounts))
        elif kind == "fixed":
            for i in range(r):
                size = _on(layer.size, i)
                self.add(f"{name}" + (f"_{i}" if r > 1 else ""), "require", [x], where,
                         relation="eq", a=dim_of(x, 2 + i), b=const(size), kind="fixed",
                         names=("in", "size"), label=name,
                         statement=f"a fixed-size block: the input is exactly {size}")
            out = self.nodes[-1].name
        elif kind == "residual":
            main = x
            for j, conv in enumerate(layer.convs):
                main = self.layer(f"{name}_conv{j + 1}", conv, main, f"{where}.convs[{j}]")
            short = x
            if layer.shortcut is not None:
                short = self.layer(f"{name}_shortcut", layer.shortcut, x, f"{where}.shortcut")
            out = self.add(name, "broadcast", [main, short], where, fn="add", kind="agree",
                           strict=True,
                           names=("main", "shortcut"),
                           statement="residual: the main path and the shortcut agree")
        else:  # pragma: no cover - the description's own validation admits no other kind
            raise ValueError(f"unknown layer kind {kind!r}")
        norm = getattr(layer, "norm", None)
        if norm is not None:
            out = self.add(f"{name}_n", "norm", [out], where, kind=norm, of=name,
                           running_stats=norm == "batch")
        return out


def from_description(desc) -> Graph:
    """The graph of a :class:`~nnbridge.unet.description.UNetDescription`."""
    b = _Builder(desc)
    r = b.rank
    x = "input"
    if desc.multiple_of is not None:
        for i in range(r):
            m = _on(desc.multiple_of, i)
            x = b.add("input_divisible" + (f"_{i}" if r > 1 else ""), "require", [x],
                      "multiple_of", relation="divides", a=const(m), b=dim_of("input", 2 + i),
                      kind="check", names=("multiple_of", "size"), label="input_divisible",
                      statement=f"the network's own check: {m} divides the size")
    taps = []
    for i, level in enumerate(desc.levels):
        for j, conv in enumerate(level.convs):
            x = b.layer(f"enc{i}_conv{j + 1}", conv, x, f"levels[{i}].convs[{j}]")
        taps.append(x)
        for j, layer in enumerate(level.down):
            name = f"down{i}" + (f"_{j + 1}" if len(level.down) > 1 else "")
            x = b.layer(name, layer, x, f"levels[{i}].down[{j}]")
    for j, conv in enumerate(desc.bottom):
        x = b.layer(f"bottom_conv{j + 1}", conv, x, f"bottom[{j}]")
    for i in reversed(range(len(desc.levels))):
        level = desc.levels[i]
        tap = taps[i]
        for j, layer in enumerate(level.up):
            name = f"up{i}" + (f"_{j + 1}" if len(level.up) > 1 else "")
            x = b.layer(name, layer, x, f"levels[{i}].up[{j}]", target=tap)
        where = f"levels[{i}].skip"
        if getattr(level, "gate", False):
            b.add(f"gate{i}", "broadcast", [x, tap], f"levels[{i}].gate", fn="add",
                  kind="skip", names=("up", "skip"), strict=True,
                  statement="attention gate: the up-sampled size equals the skip's")
        if level.skip in ("concat", "add"):
            x = b.add(f"skip{i}", "cat" if level.skip == "concat" else "broadcast", [tap, x],
                      where, dim=1, fn="add", kind="skip", names=("skip", "up"), strict=True,
                      statement=f"{level.skip}: the up-sampled size equals the skip's")
        elif level.skip == "crop":
            cropped = b.add(f"skip{i}", "crop", [tap, x], where, kind="skip",
                            names=("skip", "up"),
                            statement="crop: the skip is at least the up-sampled size")
            x = b.add(f"join{i}", "cat", [cropped, x], where, dim=1)
        for j, conv in enumerate(level.dec_convs):
            x = b.layer(f"dec{i}_conv{j + 1}", conv, x, f"levels[{i}].dec_convs[{j}]")
    for j, conv in enumerate(desc.head):
        x = b.layer(f"head{j + 1}" if len(desc.head) > 1 else "head", conv, x, f"head[{j}]")
    training = desc.training_batch is not None
    return Graph(desc.name, r, tuple(b.nodes), x, desc.output, "train" if training else "eval",
                 desc.training_batch if training else 1)
