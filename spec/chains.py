"""TorchLean's model size chains: UNet2, CNN2 and the ResNet-18-like spec.

Each chain is a composition of the layer formulas in :mod:`nnbridge.spec.formulas`, so it
too reads as ``int``, Z3 term or SymPy expression. Config fields may be symbolic, which is
how the proofs quantify over configurations.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .arith import defined, reading_for, shown
from .errors import Rule, ShapeError
from .formulas import (
    check_semantics,
    check_size,
    conv_out,
    conv_transpose_out,
    is_bool,
    pool_out,
)

__all__ = [
    "CNN2Config",
    "ResNetConfig",
    "UNET2_OBLIGATIONS",
    "UNet2Config",
    "cnn2_feat_shape",
    "cnn2_feat_size",
    "cnn2_stages",
    "out_h1",
    "out_h2",
    "out_w1",
    "out_w2",
    "pool_h1",
    "pool_h2",
    "pool_w1",
    "pool_w2",
    "resnet_spatial",
    "torchvision_resnet_spatial",
    "unet2_obligations",
    "unet_down",
    "unet_up",
]


def _check_config(cfg: Any) -> None:
    """Every field a bool where a bool is due, else a size (see :func:`check_size`).

    NumPy integers and bools are stored as Python ones; symbolic fields stay as given.
    """
    name = type(cfg).__name__
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.type in ("bool",):
            if not is_bool(value):
                raise ShapeError(
                    f"{name}.{f.name} must be a bool, got {shown(value)} "
                    f"({type(value).__name__})", rule=Rule.CONFIG_FIELD)
            object.__setattr__(cfg, f.name, bool(value))
            continue
        try:
            value = check_size(name, f.name, value)
        except ShapeError as exc:
            raise ShapeError(
                f"{name}.{f.name} must be a non-negative integer up to 2**48 (or a symbolic "
                f"one), got {shown(value)} ({type(value).__name__})",
                rule=Rule.CONFIG_FIELD) from exc
        object.__setattr__(cfg, f.name, value)


def _config(op: str, cfg: Any, kind: type) -> Any:
    """``cfg`` itself when it is a ``kind``: a chain never guesses a network by its fields."""
    if not isinstance(cfg, kind):
        raise ShapeError(Rule.CONFIG_TYPE, op=op, expected=kind.__name__,
                         got=f"{shown(cfg)} ({type(cfg).__name__})")
    return cfg


def _size(op: str, name: str, value: Any) -> Any:
    """One size along one axis: the chains are TorchLean's per-axis functions, no tuples."""
    if isinstance(value, (tuple, list)):
        raise ShapeError(
            f"{op}: {name} is one size along one axis (the chain is applied per axis), got "
            f"{shown(value)}", rule=Rule.INTEGER_SIZE)
    return check_size(op, name, value)


# --------------------------------------------------------------------------------------
# UNet2
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UNet2Config:
    """TorchLean's ``UNet2Config`` with its defaults (fields in snake_case)."""

    pool_kernel: Any = 2
    pool_stride: Any = 2
    conv_kernel: Any = 3
    conv_stride: Any = 1
    conv_padding: Any = 1
    up_kernel: Any = 2
    up_stride: Any = 2
    up_padding: Any = 0
    head_kernel: Any = 1
    head_stride: Any = 1
    head_padding: Any = 0
    base_c: Any = 64

    def __post_init__(self):
        _check_config(self)

    def well_formed(self) -> bool:
        """TorchLean's ``UNet2Config.WF``: the kernels and the pool stride nonzero, baseC > 0.

        A ``bool`` for int fields; a Z3 or SymPy boolean when a field is symbolic.
        """
        values = (self.pool_kernel, self.pool_stride, self.conv_kernel, self.up_kernel,
                  self.head_kernel, self.base_c)
        r = reading_for(*values)
        return r.and_(*(r.ge(v, 1) for v in values))


def unet_down(cfg: UNet2Config, n, *, semantics: str = "lean"):
    """``UNetDownH cfg n = (n - poolKernel) / poolStride + 1`` (max pool, no padding)."""
    cfg, n = _config("unet_down", cfg, UNet2Config), _size("unet_down", "n", n)
    return pool_out(n, cfg.pool_kernel, cfg.pool_stride, semantics=semantics)


def unet_up(cfg: UNet2Config, n, *, semantics: str = "lean"):
    """``UNetUpH cfg n = (UNetDownH cfg n - 1) * upStride - 2*upPadding + upKernel``."""
    cfg, n = _config("unet_up", cfg, UNet2Config), _size("unet_up", "n", n)
    return conv_transpose_out(unet_down(cfg, n, semantics=semantics), cfg.up_kernel,
                              cfg.up_stride, cfg.up_padding, semantics=semantics)


def _conv_keeps(cfg: UNet2Config, n, semantics: str):
    return conv_out(n, cfg.conv_kernel, cfg.conv_stride, cfg.conv_padding, semantics=semantics)


def _head_keeps(cfg: UNet2Config, n, semantics: str):
    return conv_out(n, cfg.head_kernel, cfg.head_stride, cfg.head_padding, semantics=semantics)


#: The eight hypotheses of ``UNet2Spec.forward`` by their Lean names, per axis:
#: name -> (axis, statement, left-hand side as a function of (cfg, n, semantics)).
UNET2_OBLIGATIONS = {
    "h_convH": ("H", "(inH + 2*convPadding - convKernel)/convStride + 1 = inH",
                lambda cfg, n, sem: _conv_keeps(cfg, n, sem)),
    "h_convW": ("W", "(inW + 2*convPadding - convKernel)/convStride + 1 = inW",
                lambda cfg, n, sem: _conv_keeps(cfg, n, sem)),
    "h_convH_down": ("H", "(UNetDownH cfg inH + 2*convPadding - convKernel)/convStride + 1 "
                          "= UNetDownH cfg inH", None),
    "h_convW_down": ("W", "(UNetDownW cfg inW + 2*convPadding - convKernel)/convStride + 1 "
                          "= UNetDownW cfg inW", None),
    "h_upH": ("H", "UNetUpH cfg inH = inH", lambda cfg, n, sem: unet_up(cfg, n, semantics=sem)),
    "h_upW": ("W", "UNetUpW cfg inW = inW", lambda cfg, n, sem: unet_up(cfg, n, semantics=sem)),
    "h_outH": ("H", "(inH + 2*headPadding - headKernel)/headStride + 1 = inH",
               lambda cfg, n, sem: _head_keeps(cfg, n, sem)),
    "h_outW": ("W", "(inW + 2*headPadding - headKernel)/headStride + 1 = inW",
               lambda cfg, n, sem: _head_keeps(cfg, n, sem)),
}


def _obligation_claim(name: str, cfg: UNet2Config, n, semantics: str):
    r = reading_for(n, *(getattr(cfg, f.name) for f in fields(cfg)))
    if name in ("h_convH_down", "h_convW_down"):
        def claim():
            down = unet_down(cfg, n, semantics=semantics)
            return r.eq(_conv_keeps(cfg, down, semantics), down)
    else:
        lhs = UNET2_OBLIGATIONS[name][2]

        def claim():
            return r.eq(lhs(cfg, n, semantics), n)
    return defined(claim, r)


def unet2_obligations(cfg: UNet2Config, h, w, *, semantics: str = "lean") -> dict:
    """The eight ``h_*`` obligations of ``UNet2Spec.forward``, by Lean name.

    Values are ``bool`` for integer sizes and Z3/SymPy booleans for symbolic ones. Under
    ``semantics="torch"`` an obligation also requires that PyTorch accepts every layer it
    passes through (a raising layer makes it ``False``). Bad arguments (a wrong config, a
    size that is not one, an unknown semantics) raise ShapeError; they are never ``False``.
    """
    cfg = _config("unet2_obligations", cfg, UNet2Config)
    h, w = _size("unet2_obligations", "h", h), _size("unet2_obligations", "w", w)
    check_semantics(semantics)
    return {name: _obligation_claim(name, cfg, h if axis == "H" else w, semantics)
            for name, (axis, _, _) in UNET2_OBLIGATIONS.items()}


# --------------------------------------------------------------------------------------
# CNN2
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CNN2Config:
    """TorchLean's ``CNN2Config`` with its defaults (fields in snake_case)."""

    c1: Any = 32
    c2: Any = 64
    out_dim: Any = 10
    k_h: Any = 3
    k_w: Any = 3
    stride1: Any = 1
    padding1: Any = 1
    stride2: Any = 1
    padding2: Any = 1
    pool_kh: Any = 2
    pool_kw: Any = 2
    pool_stride1: Any = 2
    pool_stride2: Any = 2

    def __post_init__(self):
        _check_config(self)


def out_h1(cfg: CNN2Config, h, *, semantics: str = "lean"):
    """``outH1 = convOut inH kH stride1 padding1``."""
    cfg, h = _config("out_h1", cfg, CNN2Config), _size("out_h1", "h", h)
    return conv_out(h, cfg.k_h, cfg.stride1, cfg.padding1, semantics=semantics)


def pool_h1(cfg: CNN2Config, h, *, semantics: str = "lean"):
    """``poolH1 = poolOut outH1 poolKH poolStride1``."""
    cfg, h = _config("pool_h1", cfg, CNN2Config), _size("pool_h1", "h", h)
    return pool_out(out_h1(cfg, h, semantics=semantics), cfg.pool_kh, cfg.pool_stride1,
                    semantics=semantics)


def out_h2(cfg: CNN2Config, h, *, semantics: str = "lean"):
    """``outH2 = convOut poolH1 kH stride2 padding2``."""
    cfg, h = _config("out_h2", cfg, CNN2Config), _size("out_h2", "h", h)
    return conv_out(pool_h1(cfg, h, semantics=semantics), cfg.k_h, cfg.stride2, cfg.padding2,
                    semantics=semantics)


def pool_h2(cfg: CNN2Config, h, *, semantics: str = "lean"):
    """``poolH2 = poolOut outH2 poolKH poolStride2``."""
    cfg, h = _config("pool_h2", cfg, CNN2Config), _size("pool_h2", "h", h)
    return pool_out(out_h2(cfg, h, semantics=semantics), cfg.pool_kh, cfg.pool_stride2,
                    semantics=semantics)


def _w_view(cfg: CNN2Config) -> CNN2Config:
    """The W chain is the H chain with ``kW`` and ``poolKW`` in place of ``kH``, ``poolKH``."""
    return replace(cfg, k_h=cfg.k_w, pool_kh=cfg.pool_kw)


def out_w1(cfg: CNN2Config, w, *, semantics: str = "lean"):
    """``outW1 = convOut inW kW stride1 padding1``."""
    cfg, w = _config("out_w1", cfg, CNN2Config), _size("out_w1", "w", w)
    return out_h1(_w_view(cfg), w, semantics=semantics)


def pool_w1(cfg: CNN2Config, w, *, semantics: str = "lean"):
    """``poolW1 = poolOut outW1 poolKW poolStride1``."""
    cfg, w = _config("pool_w1", cfg, CNN2Config), _size("pool_w1", "w", w)
    return pool_h1(_w_view(cfg), w, semantics=semantics)


def out_w2(cfg: CNN2Config, w, *, semantics: str = "lean"):
    """``outW2 = convOut poolW1 kW stride2 padding2``."""
    cfg, w = _config("out_w2", cfg, CNN2Config), _size("out_w2", "w", w)
    return out_h2(_w_view(cfg), w, semantics=semantics)


def pool_w2(cfg: CNN2Config, w, *, semantics: str = "lean"):
    """``poolW2 = poolOut outW2 poolKW poolStride2``."""
    cfg, w = _config("pool_w2", cfg, CNN2Config), _size("pool_w2", "w", w)
    return pool_h2(_w_view(cfg), w, semantics=semantics)


def cnn2_stages(cfg: CNN2Config, h, w, *, semantics: str = "lean") -> dict:
    """Every stage size of the CNN2 chain, by TorchLean's names (snake_case)."""
    cfg = _config("cnn2_stages", cfg, CNN2Config)
    h, w = _size("cnn2_stages", "h", h), _size("cnn2_stages", "w", w)
    return {name: fn(cfg, n, semantics=semantics) for name, fn, n in (
        ("out_h1", out_h1, h), ("pool_h1", pool_h1, h), ("out_h2", out_h2, h),
        ("pool_h2", pool_h2, h), ("out_w1", out_w1, w), ("pool_w1", pool_w1, w),
        ("out_w2", out_w2, w), ("pool_w2", pool_w2, w))}


def cnn2_feat_shape(cfg: CNN2Config, h, w, *, semantics: str = "lean") -> tuple:
    """``featShape = (c2, poolH2, poolW2)``."""
    cfg = _config("cnn2_feat_shape", cfg, CNN2Config)
    h, w = _size("cnn2_feat_shape", "h", h), _size("cnn2_feat_shape", "w", w)
    return (cfg.c2, pool_h2(cfg, h, semantics=semantics), pool_w2(cfg, w, semantics=semantics))


def cnn2_feat_size(cfg: CNN2Config, h, w, *, semantics: str = "lean"):
    """``featSize = c2 * poolH2 * poolW2`` (the linear head's input width)."""
    cfg = _config("cnn2_feat_size", cfg, CNN2Config)
    h, w = _size("cnn2_feat_size", "h", h), _size("cnn2_feat_size", "w", w)
    c2, ph, pw = cnn2_feat_shape(cfg, h, w, semantics=semantics)
    r = reading_for(c2, ph, pw)
    return r.mul(r.mul(c2, ph), pw)


# --------------------------------------------------------------------------------------
# ResNet-18-like spec
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResNetConfig:
    """TorchLean's ``ResNetConfig``; the defaults are ``resnet18Config``."""

    stem_out_channels: Any = 64
    stem_kernel: Any = 7
    stem_stride: Any = 2
    stem_padding: Any = 3
    pool_kernel: Any = 3
    pool_stride: Any = 2
    stage1_out_channels: Any = 64
    stage1_blocks: Any = 2
    stage2_out_channels: Any = 128
    stage2_blocks: Any = 2
    stage3_out_channels: Any = 256
    stage3_blocks: Any = 2
    stage4_out_channels: Any = 512
    stage4_blocks: Any = 2
    use_projection_shortcuts: bool = False

    def __post_init__(self):
        _check_config(self)

    @property
    def stages(self) -> tuple[tuple[Any, Any], ...]:
        """``((out_channels, blocks), ...)`` for the four stages."""
        return tuple((getattr(self, f"stage{i}_out_channels"), getattr(self, f"stage{i}_blocks"))
                     for i in range(1, 5))


def resnet_spatial(cfg: ResNetConfig, n, *, semantics: str = "lean") -> dict:
    """The spec's spatial chain: ``stem = convOut n 7 2 3``, ``pool = poolOut stem 3 2``.

    Blocks are 3x3, stride 1, padding 1, so every stage keeps the pool's size; the global
    average pool then gives 1.
    """
    cfg, n = _config("resnet_spatial", cfg, ResNetConfig), _size("resnet_spatial", "n", n)
    stem = conv_out(n, cfg.stem_kernel, cfg.stem_stride, cfg.stem_padding, semantics=semantics)
    pool = pool_out(stem, cfg.pool_kernel, cfg.pool_stride, semantics=semantics)
    chain = {"stem": stem, "pool": pool}
    size = pool
    for i in range(1, 5):
        size = conv_out(size, 3, 1, 1, semantics=semantics)
        chain[f"stage{i}"] = size
    chain["global_pool"] = 1
    return chain


def torchvision_resnet_spatial(n) -> dict:
    """torchvision's resnet18 spatial chain, in PyTorch semantics.

    ``stem = conv(7, 2, 3)``, ``pool = max_pool(3, 2, padding=1)``, layer1 keeps the size,
    layer2..4 each open with a stride-2 3x3 conv (padding 1).
    """
    n = _size("torchvision_resnet_spatial", "n", n)
    stem = conv_out(n, 7, 2, 3, semantics="torch")
    pool = pool_out(stem, 3, 2, 1, semantics="torch")
    chain = {"stem": stem, "pool": pool, "stage1": pool}
    size = pool
    for i in range(2, 5):
        size = conv_out(size, 3, 2, 1, semantics="torch")
        chain[f"stage{i}"] = size
    chain["global_pool"] = 1
    return chain
