"""A UNet, described layer by layer, as far as sizes go.

A :class:`UNetDescription` is a list of :class:`Level` s (encoder block, skip tap, down step;
on the way back: up step, skip join with an optional attention gate, decoder block), a bottom
block and a head. Each layer carries only what shapes depend on (kernel, stride, padding,
dilation, ceil_mode, output_padding, an upsampling factor, an instance or batch norm). Every
value is an ``int`` or a per-axis tuple (anisotropic 3D).

The flow along one axis of size ``n``::

    x_0 = n
    level i:   e_i = convs_i(x_i)            (the skip tap)
               x_{i+1} = down_i(e_i)
    bottom:    y = bottom(x_L)
    level i, from the deepest up:
               u = up_i(y)                   (resize, pad_to_skip: u = e_i)
               gate_i: u == e_i              (an attention gate adds 1x1 convs of both)
               skip "concat"/"add": u == e_i;  "crop": e_i >= u (centre crop);  "none": -
               y = dec_convs_i(u)
    head:      out = head(y);   output "same": out == n

Inside the lists: a residual unit adds its main path to its shortcut (the identity or a
conv), ``main(x) == shortcut(x)``; a fixed-size block needs ``x == size``.

Descriptions are built in Python, or read from TOML or JSON with :func:`from_dict` and
:func:`load`; anything malformed raises :class:`~nnbridge.spec.errors.UsageError` naming the
key, the value and the rule (``description_value``, ``unknown_key``, ``config_file``,
``work_limit``); per-axis values with the wrong number of axes are a ``ShapeError``
(``axis_count``). Limits keep the work bounded: at most :data:`MAX_LEVELS` levels and
:data:`MAX_LAYERS` layers per list, files of at most :data:`MAX_FILE_BYTES` bytes nested at
most :data:`MAX_NESTING` deep.
"""

from __future__ import annotations

import json
import math
import numbers
import reprlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nnbridge.spec.errors import Rule, ShapeError, UsageError

__all__ = [
    "AXIS_NAMES",
    "MAX_FILE_BYTES",
    "MAX_LAYERS",
    "MAX_LEVELS",
    "MAX_NESTING",
    "Conv",
    "ConvTranspose",
    "Fixed",
    "Level",
    "PadToSkip",
    "Pool",
    "Residual",
    "Resize",
    "UNetDescription",
    "Upsample",
    "from_dict",
    "load",
    "show",
]

#: Axis names by number of spatial axes.
AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}

#: Layer parameters above this are refused (a typo, not a network).
MAX_PARAM = 2**20

#: The most levels (resolutions) a description may have; real UNets have 4 to 7.
MAX_LEVELS = 16

#: The most layers in one list (a level's convs, down, up, dec_convs; bottom; head).
MAX_LAYERS = 64

#: The largest description file read (bytes); a description is a few KiB.
MAX_FILE_BYTES = 2**20

#: The deepest nesting of tables and lists in a description (a real one is 6 deep).
MAX_NESTING = 32

SKIPS = ("concat", "crop", "add", "none")
NORMS = (None, "instance", "batch")
OUTPUTS = ("same", "any")


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 40
_SHOWN.maxlevel = 3


def show(value: Any) -> str:
    """``repr(value)`` for an error message, kept short: nested or long values are cut, and
    an int of thousands of digits is named by its size (never converted to a string, which
    Python refuses past 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    if isinstance(value, (list, tuple, dict, set)):
        try:
            return _SHOWN.repr(value)
        except (ValueError, RecursionError):
            return f"a {type(value).__name__} of {len(value)} items"
    try:
        return _SHOWN.repr(value)
    except Exception:  # a user's object whose repr fails
        return f"a {type(value).__name__}"


def _bad(message: str, rule: Rule = Rule.DESCRIPTION_VALUE) -> UsageError:
    return UsageError(message, rule=rule)


def _param(owner: str, name: str, value: Any, *, minimum: int, rank: int | None = None):
    """An int in ``minimum..MAX_PARAM``, or a list/tuple of them (one per axis); returns
    the value normalised to int/tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise _bad(f"{owner}: {name} is an empty list")
        if len(value) > 3 or (rank is not None and len(value) != rank):
            raise ShapeError(f"{owner}: {name}={show(value)} has {len(value)} axes, the "
                             f"network has {rank or '1, 2 or 3'}", rule=Rule.AXIS_COUNT)
        return tuple(_scalar(owner, f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return _scalar(owner, name, value, minimum)


def _scalar(owner: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (list, tuple)):
        raise _bad(f"{owner}: {name} must be an integer (one per axis, not nested lists), "
                   f"got {show(value)}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(f"{owner}: {name} must be an integer, got {show(value)}")
    value = int(value)
    if value < minimum or value > MAX_PARAM:
        raise _bad(f"{owner}: {name} must be in {minimum}..{MAX_PARAM}, got {name}={show(value)}")
    return value


def _layer_list(owner: str, name: str, value: Any, limit: int = MAX_LAYERS) -> tuple:
    """A list of layers (or levels) as a tuple, one item as a 1-tuple; at most ``limit``."""
    if not isinstance(value, (list, tuple)):
        value = (value,)
    if len(value) > limit:
        raise UsageError(Rule.WORK_LIMIT, name=f"{owner}: len({name})", value=len(value),
                         limit=limit, detail="real UNets have 4 to 7 levels and a few layers "
                                             "per step")
    return tuple(value)


def _check_norm(owner: str, norm: Any) -> None:
    if norm not in NORMS:
        raise _bad(f"{owner}: norm must be one of {NORMS}, got {show(norm)}")


def _on(value, axis: int):
    """The value on one axis (a scalar applies to every axis)."""
    return value[axis] if isinstance(value, tuple) else value


def _rank_of(values) -> set[int]:
    return {len(v) for v in values if isinstance(v, tuple)}


@dataclass(frozen=True)
class Conv:
    """``nn.ConvNd(kernel, stride, padding, dilation)``, optionally followed by a norm:
    ``"instance"`` (PyTorch needs more than one spatial element) or ``"batch"`` (the same,
    in training with a batch of 1: see ``UNetDescription.training_batch``)."""

    kernel: Any = 3
    stride: Any = 1
    padding: Any = 0
    dilation: Any = 1
    norm: str | None = None

    def __post_init__(self):
        for name, minimum in (("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
            object.__setattr__(self, name, _param("conv", name, getattr(self, name),
                                                  minimum=minimum))
        if self.norm not in NORMS:
            raise _bad(f"conv: norm must be one of {NORMS}, got {show(self.norm)}")

    kind = "conv"

    def strides(self):
        return (self.stride,)

    def label(self, axis: int) -> str:
        return (f"conv k={_on(self.kernel, axis)} s={_on(self.stride, axis)} "
                f"p={_on(self.padding, axis)}" + (f" d={_on(self.dilation, axis)}"
                                                  if _on(self.dilation, axis) != 1 else ""))

    def apply(self, size, axis: int, target=None):
        from nnbridge.spec.shapes import conv_out

        return conv_out(size, _on(self.kernel, axis), _on(self.stride, axis),
                        _on(self.padding, axis), _on(self.dilation, axis), semantics="torch")


@dataclass(frozen=True)
class Pool:
    """``nn.MaxPoolNd``/``nn.AvgPoolNd(kernel, stride, padding, ceil_mode)``.

    ``exact=True`` adds the original U-Net's tiling rule: the pool drops nothing,
    ``(n + 2p - k) % s == 0`` (every 2x2 max-pool sees an even size).
    """

    kernel: Any = 2
    stride: Any = None
    padding: Any = 0
    dilation: Any = 1
    ceil_mode: bool = False
    op: str = "max"
    exact: bool = False

    def __post_init__(self):
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel)
        for name, minimum in (("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
            object.__setattr__(self, name, _param("pool", name, getattr(self, name),
                                                  minimum=minimum))
        for name in ("ceil_mode", "exact"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(f"pool: {name} must be true or false, got "
                           f"{show(getattr(self, name))}")
        if self.op not in ("max", "avg"):
            raise _bad(f"pool: op must be 'max' or 'avg', got {show(self.op)}")

    kind = "pool"

    def strides(self):
        return (self.stride,)

    def label(self, axis: int) -> str:
        return (f"{self.op}_pool k={_on(self.kernel, axis)} s={_on(self.stride, axis)} "
                f"p={_on(self.padding, axis)}" + (" ceil" if self.ceil_mode else ""))

    def apply(self, size, axis: int, target=None):
        from nnbridge.spec.shapes import pool_out

        return pool_out(size, _on(self.kernel, axis), _on(self.stride, axis),
                        _on(self.padding, axis), _on(self.dilation, axis), self.ceil_mode,
                        semantics="torch", op=self.op)


@dataclass(frozen=True)
class ConvTranspose:
    """``nn.ConvTransposeNd(kernel, stride, padding, output_padding, dilation)``."""

    kernel: Any = 2
    stride: Any = 2
    padding: Any = 0
    output_padding: Any = 0
    dilation: Any = 1
    norm: str | None = None

    def __post_init__(self):
        for name, minimum in (("kernel", 1), ("stride", 1), ("padding", 0),
                              ("output_padding", 0), ("dilation", 1)):
            object.__setattr__(self, name, _param("conv_transpose", name, getattr(self, name),
                                                  minimum=minimum))
        if self.norm not in NORMS:
            raise _bad(f"conv_transpose: norm must be one of {NORMS}, got {show(self.norm)}")

    kind = "conv_transpose"

    def strides(self):
        return ()

    def label(self, axis: int) -> str:
        return (f"conv_transpose k={_on(self.kernel, axis)} s={_on(self.stride, axis)} "
                f"p={_on(self.padding, axis)} op={_on(self.output_padding, axis)}")

    def apply(self, size, axis: int, target=None):
        from nnbridge.spec.shapes import conv_transpose_out

        return conv_transpose_out(size, _on(self.kernel, axis), _on(self.stride, axis),
                                  _on(self.padding, axis), _on(self.output_padding, axis),
                                  _on(self.dilation, axis), semantics="torch")


@dataclass(frozen=True)
class Upsample:
    """``nn.Upsample(scale_factor=scale)`` / ``F.interpolate``: ``n -> scale * n``."""

    scale: Any = 2
    norm: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "scale", _param("upsample", "scale", self.scale, minimum=1))
        _check_norm("upsample", self.norm)

    kind = "upsample"

    def strides(self):
        return ()

    def label(self, axis: int) -> str:
        return f"upsample x{_on(self.scale, axis)}"

    def apply(self, size, axis: int, target=None):
        from nnbridge.spec.arith import reading_for

        return reading_for(size).mul(size, _on(self.scale, axis))


@dataclass(frozen=True)
class Resize:
    """``F.interpolate(x, size=skip.shape[2:])``: resize to the skip tap's size."""

    norm: str | None = None

    def __post_init__(self):
        _check_norm("resize", self.norm)

    kind = "resize"

    def strides(self):
        return ()

    def label(self, axis: int) -> str:
        return "resize to the skip's size"

    def apply(self, size, axis: int, target=None):
        return target


@dataclass(frozen=True)
class PadToSkip:
    """``F.pad(u, [diff // 2, diff - diff // 2])`` with ``diff = skip - u`` on each axis: pad
    the up-sampled map to the skip tap's size (a negative ``diff`` crops), ``u -> skip``."""

    norm: str | None = None

    def __post_init__(self):
        _check_norm("pad_to_skip", self.norm)

    kind = "pad_to_skip"

    def strides(self):
        return ()

    def label(self, axis: int) -> str:
        return "pad to the skip's size"

    def apply(self, size, axis: int, target=None):
        return target


@dataclass(frozen=True)
class Fixed:
    """``x -> x``, defined only for ``x == size`` on each axis: a block over a fixed grid
    (a positional embedding over a fixed number of tokens, UNETR's ViT)."""

    size: Any = None
    norm: str | None = None

    def __post_init__(self):
        if self.size is None:
            raise _bad("fixed: size is required: the size the block needs, an integer or "
                       "one per axis")
        object.__setattr__(self, "size", _param("fixed", "size", self.size, minimum=1))
        _check_norm("fixed", self.norm)

    kind = "fixed"

    def strides(self):
        return ()

    def label(self, axis: int) -> str:
        return f"fixed size {_on(self.size, axis)}"

    def apply(self, size, axis: int, target=None):
        return size


@dataclass(frozen=True)
class Residual:
    """``main(x) + shortcut(x)``, ``main = convs[-1](...convs[0](x))``, ``shortcut`` a conv or
    the identity (``None``): the two sizes must agree (MONAI's ``ResidualUnit``); ``norm``
    is a norm after the sum."""

    convs: tuple = ()
    shortcut: Conv | None = None
    norm: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "convs", _layer_list("residual", "convs", self.convs))
        if not self.convs:
            raise _bad("residual: a residual unit needs at least one conv in convs")
        for conv in self.convs:
            if not isinstance(conv, Conv):
                raise _bad(f"residual: convs hold convolutions only, got {show(conv)}")
        if self.shortcut is not None and not isinstance(self.shortcut, Conv):
            raise _bad(f"residual: shortcut is a conv or None (the identity), got "
                       f"{show(self.shortcut)}")
        _check_norm("residual", self.norm)
        ranks = set()
        for conv in self.parts():
            ranks |= _rank_of(getattr(conv, f.name) for f in fields(conv))
        if len(ranks) > 1:
            raise ShapeError(f"residual: per-axis values have {sorted(ranks)} axes, one "
                             "number of axes per unit", rule=Rule.AXIS_COUNT)

    kind = "residual"

    def parts(self) -> tuple:
        """The convs of the main path, then the shortcut conv (if any)."""
        return self.convs + ((self.shortcut,) if self.shortcut is not None else ())

    def strides(self):
        """The main path's stride, the product of its convs' (a per-axis tuple where one
        of them is per-axis)."""
        rank = next((len(c.stride) for c in self.convs if isinstance(c.stride, tuple)), None)
        if rank is None:
            return (math.prod(c.stride for c in self.convs),)
        return (tuple(math.prod(_on(c.stride, a) for c in self.convs) for a in range(rank)),)

    def label(self, axis: int) -> str:
        count = len(self.convs)
        return f"residual unit ({count} conv{'s' if count != 1 else ''})"


#: What the block lists (a level's convs and dec_convs, bottom, head) hold.
_BLOCK_LAYERS = (Conv, Residual, Fixed)


@dataclass(frozen=True)
class Level:
    """One resolution level: encoder convs, the skip tap, the down step; up, join, decoder.

    ``gate=True`` puts an attention gate on the skip (Oktay et al. 2018; MONAI's
    ``AttentionBlock``): it adds 1x1 convs of the up-sampled map and of the skip, so the two
    must have the same size.
    """

    convs: tuple = ()
    down: tuple = ()
    up: tuple = ()
    skip: str = "concat"
    dec_convs: tuple = ()
    gate: bool = False

    def __post_init__(self):
        for name in ("convs", "down", "up", "dec_convs"):
            object.__setattr__(self, name, _layer_list("level", name, getattr(self, name)))
        if self.skip not in SKIPS:
            raise _bad(f"level: skip must be one of {SKIPS}, got {show(self.skip)}")
        if not isinstance(self.gate, bool):
            raise _bad(f"level: gate must be true or false, got {show(self.gate)}")
        if self.gate and self.skip == "none":
            raise _bad("level: an attention gate weighs the skip, and skip = 'none' has none")
        for layer in self.convs + self.dec_convs:
            if not isinstance(layer, _BLOCK_LAYERS):
                raise _bad(f"level: convs hold convolutions, residual units and fixed-size "
                           f"blocks, got {show(layer)}")
        for layer in self.down:
            if not isinstance(layer, (Conv, Pool, Residual)):
                raise _bad(f"level: a down step is a pool, a strided conv or a residual unit, "
                           f"got {show(layer)}")
        for layer in self.up:
            if not isinstance(layer, (ConvTranspose, Upsample, Resize, PadToSkip, Conv)):
                raise _bad(f"level: an up step is a transposed conv, an upsampling, a resize, "
                           f"a pad to the skip or a conv, got {show(layer)}")


@dataclass(frozen=True)
class UNetDescription:
    """A UNet's size-relevant layers, evaluated in PyTorch semantics.

    Parameters
    ----------
    name
        Shown in reports.
    levels
        :class:`Level` s, the top (full resolution) first.
    bottom, head
        Convolutions at the bottom and after the last decoder block.
    spatial_dims
        1, 2 or 3; per-axis tuples must have this length.
    output
        ``"same"``: the output must have the input's size; ``"any"``: any size (valid convs).
    multiple_of
        A check the network makes itself before running (segmentation_models_pytorch's
        ``check_input_shape``), an int or per-axis tuple; ``None`` for none.
    training_batch
        The batch size in training, where it constrains sizes: with 1, every batch norm
        needs more than one spatial element (PyTorch: "Expected more than 1 value per
        channel when training"), as an instance norm always does. ``None``: batch norms
        are not modelled (eval mode, or batches of 2 or more, which never fail).
    """

    name: str = "custom"
    levels: tuple = ()
    bottom: tuple = ()
    head: tuple = ()
    spatial_dims: int = 2
    output: str = "same"
    multiple_of: Any = None
    training_batch: int | None = None
    semantics: str = field(default="torch")

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise _bad(f"name must be a string, got {show(self.name)}")
        if (isinstance(self.spatial_dims, bool) or not isinstance(self.spatial_dims, int)
                or self.spatial_dims not in AXIS_NAMES):
            raise _bad(f"spatial_dims must be 1, 2 or 3, got {show(self.spatial_dims)}")
        for name in ("levels", "bottom", "head"):
            object.__setattr__(self, name, _layer_list("description", name, getattr(self, name),
                                                       MAX_LEVELS if name == "levels"
                                                       else MAX_LAYERS))
        if not self.levels:
            raise _bad("a UNet needs at least one level")
        for level in self.levels:
            if not isinstance(level, Level):
                raise _bad(f"levels hold Level objects, got {show(level)}")
        for layer in self.bottom + self.head:
            if not isinstance(layer, _BLOCK_LAYERS):
                raise _bad(f"bottom and head hold convolutions, residual units and fixed-size "
                           f"blocks, got {show(layer)}")
        if self.output not in OUTPUTS:
            raise _bad(f"output must be one of {OUTPUTS}, got {show(self.output)}")
        if self.training_batch is not None and (
                isinstance(self.training_batch, bool) or not isinstance(self.training_batch, int)
                or not 1 <= self.training_batch <= 2**31):
            raise _bad(f"training_batch must be an integer in 1..2**31 or None, got "
                       f"{show(self.training_batch)}")
        if self.multiple_of is not None:
            object.__setattr__(self, "multiple_of", _param(
                "description", "multiple_of", self.multiple_of, minimum=1,
                rank=self.spatial_dims))
        if self.semantics != "torch":
            raise ShapeError("a general UNet description is evaluated in PyTorch semantics "
                             f"('torch'), got {show(self.semantics)}", rule=Rule.SEMANTICS)
        ranks, first = set(), None
        for layer in self.layers():
            if isinstance(layer, Residual):  # its fields hold layers, yielded after it
                continue
            for f in fields(layer):
                value = getattr(layer, f.name)
                if isinstance(value, tuple) and len(value) != self.spatial_dims:
                    ranks.add(len(value))
                    kind = f"{layer.op}_pool" if isinstance(layer, Pool) else layer.kind
                    first = first or f"{kind} {f.name}={show(list(value))}"
        if ranks:
            raise ShapeError(f"per-axis values have {sorted(ranks)} axes but spatial_dims is "
                             f"{self.spatial_dims} (first: {first})", rule=Rule.AXIS_COUNT)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return AXIS_NAMES[self.spatial_dims]

    def layers(self, nested: bool = True):
        """Every layer in order: encoder, down, up, decoder per level; bottom; head. With
        ``nested``, a residual unit is followed by its convs and its shortcut conv."""
        for level in self.levels:
            for layer in level.convs + level.down + level.up + level.dec_convs:
                yield layer
                if nested and isinstance(layer, Residual):
                    yield from layer.parts()
        for layer in self.bottom + self.head:
            yield layer
            if nested and isinstance(layer, Residual):
                yield from layer.parts()

    def period_hint(self, axis: int) -> int:
        """The product of every stride (lcm with ``multiple_of``): a period of the valid set
        from some threshold on, since each layer is ``floor((n + c) / s)`` or linear. A
        residual unit counts its main path once (a shortcut of another stride agrees with
        it on finitely many sizes)."""
        period = 1
        for layer in self.layers(nested=False):
            for stride in layer.strides():
                period *= _on(stride, axis)
        if self.multiple_of is not None:
            period = math.lcm(period, _on(self.multiple_of, axis))
        return period


# --------------------------------------------------------------------------------------
# Reading TOML / JSON
# --------------------------------------------------------------------------------------
_LAYER_TYPES = {
    "conv": Conv,
    "max_pool": lambda **kw: Pool(op="max", **kw),
    "avg_pool": lambda **kw: Pool(op="avg", **kw),
    "conv_transpose": ConvTranspose,
    "upsample": Upsample,
    "resize": Resize,
    "pad_to_skip": PadToSkip,
    "residual": Residual,
    "fixed": Fixed,
}
_LAYER_KEYS = {
    "conv": {f.name for f in fields(Conv)},
    "max_pool": {f.name for f in fields(Pool)} - {"op"},
    "avg_pool": {f.name for f in fields(Pool)} - {"op"},
    "conv_transpose": {f.name for f in fields(ConvTranspose)},
    "upsample": {f.name for f in fields(Upsample)},
    "resize": {f.name for f in fields(Resize)},
    "pad_to_skip": {f.name for f in fields(PadToSkip)},
    "residual": {f.name for f in fields(Residual)},
    "fixed": {f.name for f in fields(Fixed)},
}
_LEVEL_KEYS = {f.name for f in fields(Level)}
_TOP_KEYS = {f.name for f in fields(UNetDescription)} - {"semantics"} | {"depth", "level"}


#: The layer types each list of a description takes (``residual_convs``: the main path and
#: the shortcut of a residual unit).
_LIST_TYPES = {
    "convs": ("conv", "residual", "fixed"),
    "dec_convs": ("conv", "residual", "fixed"),
    "bottom": ("conv", "residual", "fixed"),
    "head": ("conv", "residual", "fixed"),
    "down": ("max_pool", "avg_pool", "conv", "residual"),
    "up": ("conv_transpose", "upsample", "resize", "pad_to_skip", "conv"),
    "residual_convs": ("conv",),
}

#: The type of a layer that names none, in the lists that held convolutions alone (files
#: written before they took other types); a layer in ``down`` or ``up`` must name its
#: ``type`` (a conv in ``down`` is never silently read as a pool).
_DEFAULT_TYPE = {"convs": "conv", "dec_convs": "conv", "bottom": "conv", "head": "conv",
                 "residual_convs": "conv"}


def _unknown(where: str, data: dict, allowed: set[str]) -> None:
    extra = sorted((k for k in data if k not in allowed), key=repr)
    if extra:
        raise _bad(f"{where}: unknown key(s) {', '.join(show(k) for k in extra)}; allowed: "
                   f"{', '.join(sorted(allowed))}", Rule.UNKNOWN_KEY)


def _layer(where: str, data: Any, role: str) -> Any:
    """The layer in table ``data``, standing in a list of kind ``role`` (a key of
    :data:`_LIST_TYPES`); ``where`` names it in errors."""
    allowed = _LIST_TYPES[role]
    if not isinstance(data, dict):
        raise _bad(f"{where}: a layer is a table/object, got {show(data)}")
    data = dict(data)
    if "type" not in data and role not in _DEFAULT_TYPE:
        raise _bad(f"{where}: a layer here needs an explicit \"type\": one of "
                   f"{', '.join(allowed)}")
    kind = data.pop("type", _DEFAULT_TYPE.get(role))
    if not isinstance(kind, str) or kind not in _LAYER_TYPES:
        raise _bad(f"{where}: unknown layer type {show(kind)}; known: "
                   f"{', '.join(_LAYER_TYPES)}", Rule.UNKNOWN_NAME)
    if kind not in allowed:
        raise _bad(f"{where}: a {kind} layer cannot stand here; this list takes "
                   f"{', '.join(allowed)}")
    _unknown(f"{where} ({kind})", data, _LAYER_KEYS[kind])
    if kind == "residual":  # nested layers name their own path in errors
        data["convs"] = _layers(f"{where}.convs", data.get("convs"), "residual_convs")
        if data.get("shortcut") is not None:
            data["shortcut"] = _layer(f"{where}.shortcut", data["shortcut"], "residual_convs")
    try:
        return _LAYER_TYPES[kind](**data)
    except (ShapeError, UsageError) as exc:
        raise type(exc)(f"{where}: {exc}", rule=exc.rule) from None


def _layers(where: str, data: Any, role: str) -> tuple:
    if data is None:
        return ()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise _bad(f"{where}: expected a list of layers, got {show(data)}")
    _layer_list(where, "layers", data)
    return tuple(_layer(f"{where}[{i}]", item, role) for i, item in enumerate(data))


def _level(where: str, data: Any) -> Level:
    if not isinstance(data, dict):
        raise _bad(f"{where}: a level is a table/object, got {show(data)}")
    _unknown(where, data, _LEVEL_KEYS)
    lists = {name: _layers(f"{where}.{name}", data.get(name), name)
             for name in ("convs", "down", "up", "dec_convs")}
    try:
        return Level(skip=data.get("skip", "concat"), gate=data.get("gate", False), **lists)
    except (ShapeError, UsageError) as exc:
        raise type(exc)(f"{where}: {exc}", rule=exc.rule) from None


def _check_nesting(data: Any) -> None:
    """Refuse tables and lists nested deeper than :data:`MAX_NESTING` (without recursion,
    so that neither this check nor anything after it can overflow the stack)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth > MAX_NESTING:
            raise UsageError(Rule.WORK_LIMIT, name="nesting depth", value=f"more than {depth - 1}",
                             limit=MAX_NESTING, detail="a UNet description is about 6 tables "
                                                       "and lists deep")
        stack.extend((child, depth + 1) for child in children)


def from_dict(data: Any) -> UNetDescription:
    """Build a description from a dict (parsed TOML or JSON).

    ``levels`` is a list of level tables; or give one ``level`` table and a ``depth`` to
    repeat it. Layers are tables with a ``type`` (``conv``, ``max_pool``, ``avg_pool``,
    ``conv_transpose``, ``upsample``, ``resize``, ``pad_to_skip``, ``residual``, ``fixed``)
    and their parameters; the lists each take some of them (:data:`_LIST_TYPES`). In
    ``convs``, ``dec_convs``, ``bottom``, ``head`` and a residual unit's ``convs`` and
    ``shortcut``, a layer without ``type`` is a ``conv``; ``down`` and ``up`` layers name
    theirs. The full format: ``docs/unet.md``.

    Raises
    ------
    UsageError
        A malformed description: ``unknown_key``, ``unknown_name`` (a layer type),
        ``description_value``, ``work_limit`` (more than :data:`MAX_LEVELS` levels,
        :data:`MAX_LAYERS` layers in a list, nesting deeper than :data:`MAX_NESTING`).
    ShapeError
        Per-axis values whose length is not ``spatial_dims`` (``axis_count``).
    """
    if not isinstance(data, dict):
        raise _bad(f"a UNet description is a table/object, got {type(data).__name__}")
    _check_nesting(data)
    _unknown("description", data, _TOP_KEYS)
    if "levels" in data and "level" in data:
        raise _bad("description: give either 'levels' or 'level' with 'depth', not both")
    if "level" in data:
        depth = data.get("depth")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise _bad(f"description: 'level' needs an integer 'depth' in 1..{MAX_LEVELS}, "
                       f"got {show(depth)}")
        if depth > MAX_LEVELS:
            raise UsageError(Rule.WORK_LIMIT, name="depth", value=show(depth),
                             limit=MAX_LEVELS, detail="real UNets have 4 to 7 levels")
        levels = (_level("level", data["level"]),) * depth
    elif "depth" in data:
        raise _bad("description: 'depth' repeats a 'level' table, which is missing")
    else:
        raw = data.get("levels")
        if not isinstance(raw, list):
            raise _bad(f"description: 'levels' must be a list of tables, got {show(raw)}")
        _layer_list("description", "levels", raw, MAX_LEVELS)
        levels = tuple(_level(f"levels[{i}]", item) for i, item in enumerate(raw))
    kwargs = {k: data[k] for k in ("name", "spatial_dims", "output", "multiple_of",
                                   "training_batch") if k in data}
    return UNetDescription(levels=levels, bottom=_layers("bottom", data.get("bottom"), "bottom"),
                           head=_layers("head", data.get("head"), "head"), **kwargs)


def _read(path: Path) -> str:
    """The file's text: a regular file of at most :data:`MAX_FILE_BYTES` bytes, UTF-8
    (at most ``MAX_FILE_BYTES + 1`` bytes are ever read)."""
    shown = repr(str(path))
    try:
        if path.exists() and not path.is_file():
            raise UsageError(Rule.CONFIG_FILE, path=shown, detail="not a regular file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(Rule.CONFIG_FILE, path=shown,
                         detail=exc.strerror or type(exc).__name__) from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(Rule.CONFIG_FILE, path=shown,
                         detail=f"larger than the limit of {MAX_FILE_BYTES} bytes (1 MiB); "
                                "a UNet description is a few KiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(Rule.CONFIG_FILE, path=shown,
                         detail=f"not UTF-8 text (byte {exc.start})") from None


def _parse(path: Path, text: str) -> Any:
    """JSON for a ``.json`` file, TOML otherwise; every parser failure is ``config_file``."""
    shown = repr(str(path))
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        if kind == "JSON":
            return json.loads(text)
        import tomllib

        return tomllib.loads(text)
    except RecursionError:
        raise UsageError(Rule.WORK_LIMIT, name=f"{path}: nesting depth",
                         value="too deep to parse", limit=MAX_NESTING,
                         detail="a UNet description is about 6 tables and lists deep") from None
    except ValueError as exc:  # JSONDecodeError, TOMLDecodeError, an int of > 4300 digits
        detail = " ".join(str(exc).split())
        if "integer string conversion" in detail:
            detail = "an integer with more than 4300 digits"
        raise UsageError(Rule.CONFIG_FILE, path=shown,
                         detail=f"malformed {kind}: {detail}") from None


def load(path: str | Path) -> UNetDescription:
    """Read a description from a ``.toml`` or ``.json`` file (see :func:`from_dict`).

    Raises :class:`UsageError` (``config_file``) for a file that cannot be read, is larger
    than :data:`MAX_FILE_BYTES`, is not UTF-8 or does not parse, and the errors of
    :func:`from_dict`, each prefixed with the path.
    """
    if not isinstance(path, (str, Path)) or not str(path) or "\x00" in str(path):
        raise UsageError(Rule.CONFIG_FILE, path=show(path), detail="not a file path")
    path = Path(path)
    data = _parse(path, _read(path))
    try:
        return from_dict(data)
    except (ShapeError, UsageError) as exc:
        raise type(exc)(f"{path}: {exc}", rule=exc.rule) from None
