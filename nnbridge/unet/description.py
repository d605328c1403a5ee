"""A UNet, described layer by layer, as far as sizes go.

A :class:`UNetDescription` is a list of :class:`Level` s (encoder block, skip tap, down step;
on the way back: up step, skip join, decoder block), a bottom block and a head. Each layer
carries only what shapes depend on (kernel, stride, padding, dilation, ceil_mode,
output_padding, an upsampling factor, an instance or batch norm). Every value is an ``int`` or a
per-axis tuple (anisotropic 3D).

The flow along one axis of size ``n``::

    x_0 = n
    level i:   e_i = convs_i(x_i)            (the skip tap)
               x_{i+1} = down_i(e_i)
    bottom:    y = bottom(x_L)
    level i, from the deepest up:
               u = up_i(y)
               skip "concat"/"add": u == e_i;  "crop": e_i >= u (centre crop);  "none": -
               y = dec_convs_i(u)
    head:      out = head(y);   output "same": out == n

Descriptions are built in Python, or read from TOML or JSON with :func:`from_dict` and
:func:`load`; anything malformed raises :class:`ShapeError` naming the key and the value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nnbridge.spec.errors import ShapeError

__all__ = [
    "AXIS_NAMES",
    "Conv",
    "ConvTranspose",
    "Level",
    "Pool",
    "Resize",
    "UNetDescription",
    "Upsample",
    "from_dict",
    "load",
]

#: Axis names by number of spatial axes.
AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}

#: Layer parameters above this are refused (a typo, not a network).
MAX_PARAM = 2**20

SKIPS = ("concat", "crop", "add", "none")
NORMS = (None, "instance", "batch")
OUTPUTS = ("same", "any")


def _param(owner: str, name: str, value: Any, *, minimum: int, rank: int | None = None):
    """An int >= minimum, or a tuple of them; returns the value normalised to int/tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ShapeError(f"{owner}: {name} is an empty list", rule="description_value")
        if rank is not None and len(value) != rank:
            raise ShapeError(
                f"{owner}: {name}={list(value)} has {len(value)} axes, the network has {rank}",
                rule="axis_count")
        return tuple(_param(owner, f"{name}[{i}]", v, minimum=minimum)
                     for i, v in enumerate(value))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(f"{owner}: {name} must be an integer, got {value!r}",
                         rule="description_value")
    if value < minimum or value > MAX_PARAM:
        raise ShapeError(
            f"{owner}: {name} must be in {minimum}..{MAX_PARAM}, got {name}={value}",
            rule="description_value")
    return value


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
            raise ShapeError(f"conv: norm must be one of {NORMS}, got {self.norm!r}",
                             rule="description_value")

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
                raise ShapeError(f"pool: {name} must be true or false, got "
                                 f"{getattr(self, name)!r}", rule="description_value")
        if self.op not in ("max", "avg"):
            raise ShapeError(f"pool: op must be 'max' or 'avg', got {self.op!r}",
                             rule="description_value")

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
            raise ShapeError(f"conv_transpose: norm must be one of {NORMS}, got {self.norm!r}",
                             rule="description_value")

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
    kind = "resize"

    def strides(self):
        return ()

    def label(self, axis: int) -> str:
        return "resize to the skip's size"

    def apply(self, size, axis: int, target=None):
        return target


@dataclass(frozen=True)
class Level:
    """One resolution level: encoder convs, the skip tap, the down step; up, join, decoder."""

    convs: tuple = ()
    down: tuple = ()
    up: tuple = ()
    skip: str = "concat"
    dec_convs: tuple = ()

    def __post_init__(self):
        for name in ("convs", "down", "up", "dec_convs"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        if self.skip not in SKIPS:
            raise ShapeError(f"level: skip must be one of {SKIPS}, got {self.skip!r}",
                             rule="description_value")
        for layer in self.convs + self.dec_convs:
            if not isinstance(layer, Conv):
                raise ShapeError(f"level: convs hold convolutions only, got {layer!r}",
                                 rule="description_value")
        for layer in self.down:
            if not isinstance(layer, (Conv, Pool)):
                raise ShapeError(f"level: a down step is a pool or a strided conv, got "
                                 f"{layer!r}", rule="description_value")
        for layer in self.up:
            if not isinstance(layer, (ConvTranspose, Upsample, Resize, Conv)):
                raise ShapeError(f"level: an up step is a transposed conv, an upsampling or a "
                                 f"resize, got {layer!r}", rule="description_value")


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
            raise ShapeError(f"name must be a string, got {self.name!r}",
                             rule="description_value")
        if self.spatial_dims not in AXIS_NAMES or isinstance(self.spatial_dims, bool):
            raise ShapeError(f"spatial_dims must be 1, 2 or 3, got {self.spatial_dims!r}",
                             rule="description_value")
        for name in ("levels", "bottom", "head"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        if not self.levels:
            raise ShapeError("a UNet needs at least one level", rule="description_value")
        for level in self.levels:
            if not isinstance(level, Level):
                raise ShapeError(f"levels hold Level objects, got {level!r}",
                                 rule="description_value")
        for layer in self.bottom + self.head:
            if not isinstance(layer, Conv):
                raise ShapeError(f"bottom and head hold convolutions only, got {layer!r}",
                                 rule="description_value")
        if self.output not in OUTPUTS:
            raise ShapeError(f"output must be one of {OUTPUTS}, got {self.output!r}",
                             rule="description_value")
        if self.training_batch is not None and (
                isinstance(self.training_batch, bool) or not isinstance(self.training_batch, int)
                or not 1 <= self.training_batch <= 2**31):
            raise ShapeError(f"training_batch must be a positive integer or None, got "
                             f"{self.training_batch!r}", rule="description_value")
        if self.multiple_of is not None:
            object.__setattr__(self, "multiple_of", _param(
                "description", "multiple_of", self.multiple_of, minimum=1,
                rank=self.spatial_dims))
        if self.semantics != "torch":
            raise ShapeError("a general UNet description is evaluated in PyTorch semantics "
                             f"('torch'), got {self.semantics!r}", rule="semantics")
        ranks = set()
        for layer in self.layers():
            ranks |= _rank_of(getattr(layer, f.name) for f in fields(layer))
        bad = ranks - {self.spatial_dims}
        if bad:
            raise ShapeError(f"per-axis values have {sorted(bad)} axes but spatial_dims is "
                             f"{self.spatial_dims}", rule="axis_count")

    @property
    def axis_names(self) -> tuple[str, ...]:
        return AXIS_NAMES[self.spatial_dims]

    def layers(self):
        for level in self.levels:
            yield from level.convs + level.down + level.up + level.dec_convs
        yield from self.bottom + self.head

    def period_hint(self, axis: int) -> int:
        """The product of every stride (lcm with ``multiple_of``): a period of the valid set
        from some threshold on, since each layer is ``floor((n + c) / s)`` or linear."""
        import math

        period = 1
        for layer in self.layers():
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
}
_LAYER_KEYS = {
    "conv": {f.name for f in fields(Conv)},
    "max_pool": {f.name for f in fields(Pool)} - {"op"},
    "avg_pool": {f.name for f in fields(Pool)} - {"op"},
    "conv_transpose": {f.name for f in fields(ConvTranspose)},
    "upsample": {f.name for f in fields(Upsample)},
    "resize": {f.name for f in fields(Resize)},
}
_LEVEL_KEYS = {f.name for f in fields(Level)}
_TOP_KEYS = {f.name for f in fields(UNetDescription)} - {"semantics"} | {"depth", "level"}


def _unknown(where: str, data: dict, allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ShapeError(f"{where}: unknown key(s) {', '.join(map(repr, extra))}; allowed: "
                         f"{', '.join(sorted(allowed))}", rule="unknown_key")


def _layer(where: str, data: Any, default: str) -> Any:
    if not isinstance(data, dict):
        raise ShapeError(f"{where}: a layer is a table/object, got {data!r}",
                         rule="description_value")
    data = dict(data)
    kind = data.pop("type", default)
    if kind not in _LAYER_TYPES:
        raise ShapeError(f"{where}: unknown layer type {kind!r}; use one of "
                         f"{', '.join(_LAYER_TYPES)}", rule="unknown_key")
    _unknown(f"{where} ({kind})", data, _LAYER_KEYS[kind])
    try:
        return _LAYER_TYPES[kind](**data)
    except ShapeError as exc:
        raise ShapeError(f"{where}: {exc}", rule=exc.rule) from None


def _layers(where: str, data: Any, default: str) -> tuple:
    if data is None:
        return ()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ShapeError(f"{where}: expected a list of layers, got {data!r}",
                         rule="description_value")
    return tuple(_layer(f"{where}[{i}]", item, default) for i, item in enumerate(data))


def _level(where: str, data: Any) -> Level:
    if not isinstance(data, dict):
        raise ShapeError(f"{where}: a level is a table/object, got {data!r}",
                         rule="description_value")
    _unknown(where, data, _LEVEL_KEYS)
    return Level(convs=_layers(f"{where}.convs", data.get("convs"), "conv"),
                 down=_layers(f"{where}.down", data.get("down"), "max_pool"),
                 up=_layers(f"{where}.up", data.get("up"), "conv_transpose"),
                 skip=data.get("skip", "concat"),
                 dec_convs=_layers(f"{where}.dec_convs", data.get("dec_convs"), "conv"))


def from_dict(data: Any) -> UNetDescription:
    """Build a description from a dict (parsed TOML or JSON).

    ``levels`` is a list of level tables; or give one ``level`` table and a ``depth`` to
    repeat it. Layers are tables with a ``type`` (``conv``, ``max_pool``, ``avg_pool``,
    ``conv_transpose``, ``upsample``, ``resize``) and their parameters.
    """
    if not isinstance(data, dict):
        raise ShapeError(f"a UNet description is a table/object, got {type(data).__name__}",
                         rule="description_value")
    _unknown("description", data, _TOP_KEYS)
    if "levels" in data and "level" in data:
        raise ShapeError("description: give either 'levels' or 'level' with 'depth', not both",
                         rule="description_value")
    if "level" in data:
        depth = data.get("depth")
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 64:
            raise ShapeError(f"description: 'level' needs an integer 'depth' in 1..64, got "
                             f"{depth!r}", rule="description_value")
        levels = (_level("level", data["level"]),) * depth
    elif "depth" in data:
        raise ShapeError("description: 'depth' repeats a 'level' table, which is missing",
                         rule="description_value")
    else:
        raw = data.get("levels")
        if not isinstance(raw, list):
            raise ShapeError(f"description: 'levels' must be a list of tables, got {raw!r}",
                             rule="description_value")
        levels = tuple(_level(f"levels[{i}]", item) for i, item in enumerate(raw))
    kwargs = {k: data[k] for k in ("name", "spatial_dims", "output", "multiple_of",
                                   "training_batch") if k in data}
    return UNetDescription(levels=levels, bottom=_layers("bottom", data.get("bottom"), "conv"),
                           head=_layers("head", data.get("head"), "conv"), **kwargs)


def load(path: str | Path) -> UNetDescription:
    """Read a description from a ``.toml`` or ``.json`` file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ShapeError(f"cannot read {path}: {exc}", rule="config_file") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ShapeError(f"{path}: malformed JSON: {exc}", rule="config_file") from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ShapeError(f"{path}: malformed TOML: {exc}", rule="config_file") from None
    try:
        return from_dict(data)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ShapeError):
            raise ShapeError(f"{path}: {exc}", rule=exc.rule) from None
        raise ShapeError(f"{path}: {exc}", rule="description_value") from None
