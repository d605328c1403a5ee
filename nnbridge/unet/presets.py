"""Presets: the UNets people use, with their constructors' parameters.

=================== ======================================================================
``torchlean-unet2`` TorchLean's ``UNet2Spec``: the eight ``h_*`` obligations, Lean semantics
``ronneberger``     the original U-Net (Ronneberger et al. 2015): valid 3x3 convs, four
                    2x2 max-pools on even sizes, cropped skips; 572 in, 388 out
``monai``           ``monai.networks.nets.UNet`` (strided-conv downs, transposed-conv ups,
                    residual units, instance norms), verified against MONAI itself
``smp``             ``segmentation_models_pytorch.Unet`` with a ResNet encoder
=================== ======================================================================

Parameters are given as ``key=value`` strings (``--param strides=2,2,2``): a list is
comma-separated, a per-axis value is ``x``-separated (``kernel_size=3x3x1``); integers are
written with the ASCII digits 0-9. In Python they may also be given as values (``{"depth":
3}``), checked the same way. A malformed or unknown parameter is a
:class:`~nnbridge.spec.errors.UsageError` (``param_syntax``, ``param_value``,
``unknown_name``), and so is a value that would make the work explode (``work_limit``: at
most :data:`MAX_LEVELS` levels, :data:`MAX_RES_UNITS` residual units).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields

from nnbridge.spec.errors import Rule, UsageError

from .description import (
    MAX_LEVELS,
    MAX_PARAM,
    Conv,
    ConvTranspose,
    Level,
    Pool,
    Resize,
    UNetDescription,
    Upsample,
    show,
)

__all__ = ["MAX_LEVELS", "MAX_RES_UNITS", "PRESETS", "Preset", "build_preset", "parse_params"]

#: The most residual units per MONAI block (``num_res_units``; MONAI's default is 0).
MAX_RES_UNITS = 16

_INTEGER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Param:
    default: object
    kind: str  # "int", "bool", "axes" (int or per-axis), "axes_list", "choice", "int_list"
    help: str
    choices: tuple = ()


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    params: dict
    build: Callable


def _bad(key: str, detail: str) -> UsageError:
    return UsageError(Rule.PARAM_VALUE, name=f"--param {key}", detail=detail)


#: The most items a list parameter (strides, channels) may have: ``channels`` has one more
#: item than there are levels. A longer list is refused before it is split any further.
_MAX_ITEMS = MAX_LEVELS + 1


def _int(key: str, value) -> int:
    """An int in ``0..MAX_PARAM``: ASCII digit text, or an int given in Python."""
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER.fullmatch(text):
            raise _bad(key, f"expected a non-negative integer written with the digits 0-9, "
                            f"got {show(value)}")
        if len(text.lstrip("0")) > 100:  # say so without converting thousands of digits
            raise _bad(key, f"expected an integer in 0..{MAX_PARAM}, got "
                            f"<{len(text.lstrip('0'))} digits>")
        value = int(text)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, f"expected an integer, got {show(value)}")
    if value < 0 or value > MAX_PARAM:
        raise _bad(key, f"expected an integer in 0..{MAX_PARAM}, got {show(value)}")
    return value


def _axes(key: str, value):
    """An int, or one per axis (``3x3x1`` or a tuple of 1 to 3 ints)."""
    if isinstance(value, str):
        value = value.strip().lower().split("x")
        if len(value) == 1:
            return _int(key, value[0])
    elif not isinstance(value, (list, tuple)):
        return _int(key, value)
    if not 1 <= len(value) <= 3:
        raise _bad(key, f"a per-axis value has 1 to 3 axes, got {show(value)}")
    values = tuple(_int(key, v) for v in value)
    return values[0] if len(values) == 1 else values


def _items(key: str, value) -> list:
    """The items of a comma-separated list (or a list/tuple given in Python)."""
    if isinstance(value, str):
        items = value.split(",", _MAX_ITEMS)  # at most _MAX_ITEMS + 1 parts
        count = f"more than {_MAX_ITEMS}" if len(items) > _MAX_ITEMS else len(items)
    elif isinstance(value, (list, tuple)):
        items, count = list(value), len(value)
    else:
        raise _bad(key, f"expected a list, got {show(value)}")
    if len(items) > _MAX_ITEMS:
        raise UsageError(Rule.WORK_LIMIT, name=f"--param {key}", value=f"{count} items",
                         limit=f"{_MAX_ITEMS} items",
                         detail=f"a UNet has at most {MAX_LEVELS} levels")
    if not items or (isinstance(value, str) and not all(i.strip() for i in items)):
        raise _bad(key, f"expected a non-empty comma-separated list, got {show(value)}")
    return items


def _convert(key: str, spec: Param, value):
    if spec.kind == "int":
        return _int(key, value)
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        low = value.strip().lower() if isinstance(value, str) else None
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise _bad(key, f"expected true or false, got {show(value)}")
    if spec.kind == "axes":
        return _axes(key, value)
    if spec.kind == "axes_list":
        return tuple(_axes(key, v) for v in _items(key, value))
    if spec.kind == "int_list":
        return tuple(_int(key, v) for v in _items(key, value))
    if spec.kind == "choice":
        if not isinstance(value, str) or value not in spec.choices:
            raise _bad(key, f"expected one of {', '.join(spec.choices)}, got {show(value)}")
        return value
    raise AssertionError(spec.kind)  # pragma: no cover - a Param table bug


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a malformed item or a repeated key is an error."""
    found: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise UsageError(Rule.PARAM_SYNTAX, value=show(item))
        key, value = item.split("=", 1)
        key = key.strip()
        if not key or key in found:
            raise UsageError(f"--param: empty or repeated key in {show(item)}",
                             rule=Rule.PARAM_SYNTAX)
        found[key] = value
    return found


# --------------------------------------------------------------------------------------
# torchlean-unet2
# --------------------------------------------------------------------------------------
def _torchlean(p):
    from nnbridge.spec.shapes import UNet2Config

    from .torchlean import TorchLeanUNet2

    cfg = UNet2Config(**{k: v for k, v in p.items() if k != "semantics"})
    return TorchLeanUNet2(cfg, p["semantics"])


def _torchlean_params():
    from nnbridge.spec.shapes import UNet2Config

    params = {f.name: Param(f.default, "int", f"UNet2Config.{f.name}")
              for f in fields(UNet2Config)}
    params["semantics"] = Param("lean", "choice", "lean (TorchLean's Nat formulas to c1043f1), "
                                "lean-2026-07 (TorchLean's current formulas) or torch",
                                ("lean", "lean-2026-07", "torch"))
    return params


# --------------------------------------------------------------------------------------
# ronneberger
# --------------------------------------------------------------------------------------
def _ronneberger(p):
    """Ronneberger, Fischer, Brox (2015), Fig. 1: per level two 3x3 convs (unpadded), a 2x2
    max-pool with stride 2 applied to an even size ("to allow a seamless tiling of the output
    segmentation map ... all 2x2 max-pooling operations are applied to a layer with an even
    x- and y-size"), a 2x2 up-convolution, the skip centre-cropped and concatenated, two 3x3
    convs; a 1x1 head. 572 x 572 in, 388 x 388 out."""
    depth, pad = p["depth"], p["padding"]
    if depth < 1:
        raise UsageError(f"ronneberger: depth (the number of poolings) must be at least 1, got "
                         f"{depth}", rule=Rule.PARAM_VALUE)
    if depth > MAX_LEVELS:
        raise UsageError(Rule.WORK_LIMIT, name="ronneberger: depth", value=depth,
                         limit=MAX_LEVELS, detail="the paper's U-Net has depth 4")
    conv = Conv(3, 1, pad)
    level = Level(convs=(conv, conv), down=(Pool(2, 2, exact=p["exact_pool"]),),
                  up=(ConvTranspose(2, 2),), skip="crop" if pad == 0 else "concat",
                  dec_convs=(conv, conv))
    return UNetDescription("ronneberger", (level,) * depth, bottom=(conv, conv),
                           head=(Conv(1),), output="any" if pad == 0 else "same")


_RONNEBERGER = {
    "depth": Param(4, "int", "number of poolings"),
    "padding": Param(0, "int", "3x3 conv padding: 0 as in the paper, 1 for the 'same' variant"),
    "exact_pool": Param(True, "bool", "require every pool input even (the paper's tiling rule)"),
}


# --------------------------------------------------------------------------------------
# monai
# --------------------------------------------------------------------------------------
def _same_padding(kernel):
    """MONAI's ``same_padding``: ``(k - 1) // 2``, odd kernels only (it raises otherwise)."""
    ks = kernel if isinstance(kernel, tuple) else (kernel,)
    if any(k % 2 == 0 for k in ks):
        raise UsageError(f"monai: same_padding needs odd kernel sizes, got {kernel}; MONAI "
                         "raises NotImplementedError", rule=Rule.PARAM_VALUE)
    return tuple((k - 1) // 2 for k in ks) if isinstance(kernel, tuple) else (kernel - 1) // 2


def _minus_one(stride):
    return tuple(s - 1 for s in stride) if isinstance(stride, tuple) else stride - 1


def _monai(p):
    """``monai.networks.nets.UNet`` (MONAI 1.x), read from its source.

    * down ``i``: ``Convolution(strides=s_i, kernel_size, padding=same_padding(k))`` with an
      ADN (instance norm by default), or with ``num_res_units > 0`` a ``ResidualUnit``: that
      conv then ``num_res_units - 1`` stride-1 convs; its residual conv has the same kernel,
      stride and padding as the first conv (or is 1x1/identity at stride 1), so the residual
      sum never constrains sizes;
    * bottom: the same at stride 1;
    * ``SkipConnection``: ``cat([x, sub(x)])``, so ``sub(x)`` must have ``x``'s size;
    * up ``i``: ``ConvTranspose(strides=s_i, up_kernel_size, padding=same_padding(up_k),
      output_padding=s_i - 1)`` (``conv_only`` at the top without residual units), then with
      residual units a stride-1 ``ResidualUnit`` of one conv (no norm at the top);
    * instance norm raises for a single spatial element (a joint condition over the axes);
      so does batch norm in training with a batch of 1 (``training_batch=1``).

    ``len(strides)`` may exceed ``len(channels) - 1`` (MONAI ignores the rest, warning).
    """
    strides = p["strides"]
    if p["channels"] is not None:
        levels = len(p["channels"]) - 1
        if levels < 1:
            raise UsageError("monai: the length of `channels` should be no less than 2",
                             rule=Rule.PARAM_VALUE)
        if 0 in p["channels"]:
            # MONAI builds it, but PyTorch refuses to run a conv with 0 output channels
            raise UsageError(f"monai: channels must be at least 1, got {p['channels']}; a "
                             "Conv with 0 channels does not run in PyTorch",
                             rule=Rule.PARAM_VALUE)
        if len(strides) < levels:
            raise UsageError("monai: the length of `strides` should equal to "
                             f"`len(channels) - 1` = {levels}, got {len(strides)}",
                             rule=Rule.PARAM_VALUE)
        strides = strides[:levels]
    if len(strides) > MAX_LEVELS - 1:  # one more level holds the skip around the bottom
        raise UsageError(Rule.WORK_LIMIT, name="monai: len(strides)", value=len(strides),
                         limit=MAX_LEVELS - 1, detail="MONAI's UNet has one level per stride "
                                                      "and one for the bottom, at most "
                                                      f"{MAX_LEVELS}; real ones have 4 to 7")
    for s in strides:
        if 0 in (s if isinstance(s, tuple) else (s,)):
            raise UsageError(f"monai: strides must be positive, got {p['strides']}",
                             rule=Rule.PARAM_VALUE)
    k, uk, nru = p["kernel_size"], p["up_kernel_size"], p["num_res_units"]
    if nru > MAX_RES_UNITS:
        raise UsageError(Rule.WORK_LIMIT, name="num_res_units", value=nru,
                         limit=MAX_RES_UNITS, detail="MONAI's default is 0, typical values 2-3")
    pad, upad = _same_padding(k), _same_padding(uk)
    norm = None if p["norm"] == "none" else p["norm"]

    def unit(stride, count, last_norm=norm):
        convs = [Conv(k, stride if i == 0 else 1, pad, norm=norm) for i in range(count)]
        if convs and last_norm != norm:
            convs[-1] = Conv(k, convs[-1].stride, pad, norm=last_norm)
        return tuple(convs)

    levels = []
    for i, s in enumerate(strides):
        top = i == 0
        up = (ConvTranspose(uk, s, upad, _minus_one(s),
                            norm=None if (top and nru == 0) else norm),)
        if nru > 0:
            up += unit(1, 1, last_norm=None if top else norm)
        levels.append(Level(down=unit(s, max(1, nru)), up=up,
                            skip="none" if top else "concat"))
    levels.append(Level(skip="concat"))  # the skip around the bottom layer
    dims = p["spatial_dims"]
    return UNetDescription("monai", tuple(levels), bottom=unit(1, max(1, nru)),
                           spatial_dims=dims, training_batch=p["training_batch"] or None)


_MONAI = {
    "spatial_dims": Param(2, "int", "spatial_dims"),
    "strides": Param((2, 2, 2, 2), "axes_list", "strides, one per level (per-axis: 2x2x1)"),
    "channels": Param(None, "int_list", "channels (only its length matters: levels + 1)"),
    "kernel_size": Param(3, "axes", "kernel_size (odd)"),
    "up_kernel_size": Param(3, "axes", "up_kernel_size (odd)"),
    "num_res_units": Param(0, "int", "num_res_units"),
    "norm": Param("instance", "choice", "norm: instance (constrains sizes), batch or none",
                  ("instance", "batch", "none")),
    "training_batch": Param(0, "int", "batch size in training; with norm=batch, 1 constrains "
                                      "sizes like instance norm (0: eval or not modelled)"),
}


# --------------------------------------------------------------------------------------
# smp
# --------------------------------------------------------------------------------------
def _smp(p):
    """``segmentation_models_pytorch.Unet`` with a ResNet encoder (resnet18/34/50...).

    Verified from smp's source (torchvision, which its encoders need, has no CPU build
    here, so smp cannot be run in these tests). Encoder stages: ``conv1`` 7x7/2 pad 3;
    ``maxpool`` 3x3/2 pad 1 then ``layer1``; ``layer2..4`` open with a 3x3/2 pad 1 conv
    (their 1x1/2 downsample gives the same size); the other convs are 3x3/1 pad 1 and keep
    every size (two stand for each stage's remaining blocks). Decoder: ``encoder_depth``
    blocks; block ``i`` up-samples, concatenates the encoder feature of that resolution
    (none for the last block) and applies two 3x3/1 pad 1 convs; the head is a 3x3 pad 1
    conv.

    ``version="0.4"`` (smp 0.3.3 - 0.4): ``F.interpolate(scale_factor=2)`` and
    ``check_input_shape``, which raises unless ``output_stride = min(32, 2**depth)`` divides
    both sizes. ``version="0.6"``: the decoder interpolates to each skip's size and
    ``Unet.requires_divisible_input_shape`` is False, so every size >= 1 runs.
    """
    depth = p["encoder_depth"]
    if not 1 <= depth <= 5:
        raise UsageError(f"smp: encoder depth should be in range [1, 5], got {depth}",
                         rule=Rule.PARAM_VALUE)
    keep = Conv(3, 1, 1)
    stages = [((), ()), ((Conv(7, 2, 3),), ()), ((Pool(3, 2, 1),), (keep, keep))]
    stages += [((Conv(3, 2, 1),), (keep,))] * 3
    old = p["version"] == "0.4"
    up = Upsample(2) if old else Resize()
    levels = tuple(Level(convs=stages[i][1], down=stages[i + 1][0], up=(up,),
                         skip="none" if i == 0 else "concat", dec_convs=(keep, keep))
                   for i in range(depth))
    return UNetDescription("smp", levels, bottom=stages[depth][1], head=(keep,),
                           multiple_of=min(32, 2**depth) if old else None)


_SMP = {
    "encoder_depth": Param(5, "int", "encoder_depth (1..5)"),
    "version": Param("0.4", "choice", "0.4: scale-factor decoder and the divisibility check "
                     "(smp 0.3.3-0.4); 0.6: decoder resizes to the skips", ("0.4", "0.6")),
}


PRESETS: dict[str, Preset] = {
    "torchlean-unet2": Preset("torchlean-unet2", "TorchLean's UNet2Spec (UNet2Config)",
                              None, _torchlean),
    "ronneberger": Preset("ronneberger", "the original U-Net (2015): 572 in, 388 out",
                          _RONNEBERGER, _ronneberger),
    "monai": Preset("monai", "monai.networks.nets.UNet", _MONAI, _monai),
    "smp": Preset("smp", "segmentation_models_pytorch.Unet, ResNet encoder", _SMP, _smp),
}


def preset_params(name: str) -> dict:
    preset = PRESETS[name]
    return _torchlean_params() if preset.params is None else preset.params


def build_preset(name: str, params: dict | None = None):
    """The description of preset ``name`` with ``params`` (strings are parsed)."""
    if not isinstance(name, str) or name not in PRESETS:
        raise UsageError(Rule.UNKNOWN_NAME, kind="preset", name=show(name),
                         known=", ".join(PRESETS))
    table = preset_params(name)
    if params is not None and not isinstance(params, dict):
        raise UsageError(f"preset {name!r}: parameters are a dict, got {show(params)}",
                         rule=Rule.PARAM_VALUE)
    params = dict(params or {})
    unknown = sorted((k for k in params if k not in table), key=repr)
    if unknown:
        raise UsageError(f"preset {name!r}: unknown parameter(s) "
                         f"{', '.join(show(k) for k in unknown)}; parameters: "
                         f"{', '.join(table)}", rule=Rule.UNKNOWN_NAME)
    values = {k: _convert(k, spec, params[k]) if k in params else spec.default
              for k, spec in table.items()}
    return PRESETS[name].build(values)
