"""The model specs against equivalent torch modules with the same weights (float64).

Each torch module is built by hand from torch.nn with the spec's parameter names, so the
spec's parameters load by name; forward, every parameter and input gradient (autograd) and the
JVP (torch.func) must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnbridge.spec import ShapeError
from nnbridge.spec.models import (
    CNN2,
    Bottleneck,
    CNNChain,
    Layer,
    Params,
    ResidualBlock,
    ResNet,
    UNet2,
    check_unet2_obligations,
    cnn_spec,
    cnn_with_relu_spec,
    resnet_depth,
    resnet_param_count,
)
from nnbridge.spec.shapes import CNN2Config, ResNetConfig, UNet2Config
from torch import nn

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------
# Equivalent torch modules
# --------------------------------------------------------------------------------------
class TorchCNN(nn.Module):
    def __init__(self, cfg: CNN2Config, in_c: int, feat_size: int, relu: bool):
        super().__init__()
        k = (cfg.k_h, cfg.k_w)
        self.cfg, self.relu = cfg, relu
        self.conv1 = nn.Conv2d(in_c, cfg.c1, k, stride=cfg.stride1, padding=cfg.padding1)
        self.conv2 = nn.Conv2d(cfg.c1, cfg.c2, k, stride=cfg.stride2, padding=cfg.padding2)
        self.head = nn.Linear(feat_size, cfg.out_dim)

    def forward(self, x):
        act = F.relu if self.relu else (lambda t: t)
        c, pool = self.cfg, (self.cfg.pool_kh, self.cfg.pool_kw)
        h = F.max_pool2d(act(self.conv1(x[None])), pool, stride=c.pool_stride1)
        h = F.max_pool2d(act(self.conv2(h)), pool, stride=c.pool_stride2)
        return self.head(torch.flatten(h[0]))


class TorchUNet2(nn.Module):
    def __init__(self, cfg: UNet2Config, in_c: int, out_c: int):
        super().__init__()
        b, k = cfg.base_c, cfg.conv_kernel
        conv = {"kernel_size": k, "stride": cfg.conv_stride, "padding": cfg.conv_padding}
        self.cfg = cfg
        self.down1_1, self.down1_2 = nn.Conv2d(in_c, b, **conv), nn.Conv2d(b, b, **conv)
        self.down2_1, self.down2_2 = nn.Conv2d(b, 2 * b, **conv), nn.Conv2d(2 * b, 2 * b, **conv)
        self.up = nn.ConvTranspose2d(2 * b, b, cfg.up_kernel, stride=cfg.up_stride,
                                     padding=cfg.up_padding)
        self.up1_1, self.up1_2 = nn.Conv2d(2 * b, b, **conv), nn.Conv2d(b, b, **conv)
        self.head = nn.Conv2d(b, out_c, cfg.head_kernel, stride=cfg.head_stride,
                              padding=cfg.head_padding)

    def forward(self, x):
        skip = F.relu(self.down1_2(F.relu(self.down1_1(x[None]))))
        low = F.max_pool2d(skip, self.cfg.pool_kernel, self.cfg.pool_stride)
        low = F.relu(self.down2_2(F.relu(self.down2_1(low))))
        h = torch.cat([skip, self.up(low)], dim=1)
        return self.head(F.relu(self.up1_2(F.relu(self.up1_1(h)))))[0]


class TorchBlock(nn.Module):
    """relu(bn_n(conv_n(...relu(bn1(conv1 x))...)) + shortcut(x)) with TorchLean's units."""

    def __init__(self, in_c, out_c, kind="basic", projection=False):
        super().__init__()
        if kind == "basic":
            units = [(in_c, out_c, 3, 1), (out_c, out_c, 3, 1)]
        else:
            w = out_c // 4
            units = [(in_c, w, 1, 0), (w, w, 3, 1), (w, out_c, 1, 0)]
        self.n, self.out_c, self.projection = len(units), out_c, projection
        for i, (ci, co, k, p) in enumerate(units, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(ci, co, k, padding=p))
            setattr(self, f"bn{i}", nn.BatchNorm2d(co, eps=1e-6, track_running_stats=False))
        if projection:
            self.shortcut = nn.Conv2d(in_c, out_c, 1)
            self.shortcut_bn = nn.BatchNorm2d(out_c, eps=1e-6, track_running_stats=False)

    def forward(self, x):  # x: (1, C, H, W)
        h = x
        for i in range(1, self.n + 1):
            h = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h))
            if i < self.n:
                h = F.relu(h)
        if self.projection:
            s = self.shortcut_bn(self.shortcut(x))
        elif x.shape[1] <= self.out_c:
            s = F.pad(x, (0, 0, 0, 0, 0, self.out_c - x.shape[1]))
        else:
            s = x[:, : self.out_c]
        return F.relu(h + s)


class TorchResNet(nn.Module):
    def __init__(self, cfg: ResNetConfig, in_c: int, num_classes: int):
        super().__init__()
        c0 = cfg.stem_out_channels
        self.cfg = cfg
        self.stem = nn.Conv2d(in_c, c0, cfg.stem_kernel, stride=cfg.stem_stride,
                              padding=cfg.stem_padding)
        self.bn = nn.BatchNorm2d(c0, eps=1e-6, track_running_stats=False)
        prev = c0
        for i, (out_c, count) in enumerate(cfg.stages, start=1):
            blocks = []
            for j in range(count):
                projection = cfg.use_projection_shortcuts and j == 0 and prev != out_c
                blocks.append(TorchBlock(prev, out_c, "basic", projection))
                prev = out_c
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn(self.stem(x[None]))), self.cfg.pool_kernel,
                         self.cfg.pool_stride)
        for i in range(1, 5):
            h = getattr(self, f"layer{i}")(h)
        return self.fc(h.mean(dim=(2, 3))[0])


class Batched(nn.Module):
    """A block taking one (C, H, W) image, as the spec's block does."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block(x[None])[0]


# --------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------
def _load(module: nn.Module, params: dict, prefix: str = "") -> dict:
    named = dict(module.named_parameters())
    assert set(named) == {prefix + k for k in params}, "parameter names differ"
    with torch.no_grad():
        for name, p in named.items():
            p.copy_(torch.tensor(params[name[len(prefix):]]))
    return named


def _compare(model, module, x, *, prefix="", seed=1):
    module = module.double().train()
    named = _load(module, model.params, prefix)
    assert model.param_count == sum(p.numel() for p in module.parameters())
    rng = np.random.default_rng(seed)

    xt = torch.tensor(x, requires_grad=True)
    y_ref = module(xt)
    y = model.forward(x)
    assert y.shape == tuple(y_ref.shape)
    np.testing.assert_allclose(y, y_ref.detach().numpy(), rtol=1e-10, atol=1e-10)

    grad_y = rng.standard_normal(y.shape)
    grads, grad_x = model.vjp(x, grad_y)
    names = list(named)
    refs = torch.autograd.grad(y_ref, [xt] + [named[n] for n in names], torch.tensor(grad_y))
    np.testing.assert_allclose(grad_x, refs[0].numpy(), rtol=1e-9, atol=1e-9)
    assert set(grads) == set(model.params)
    for name, ref in zip(names, refs[1:], strict=True):
        np.testing.assert_allclose(grads[name[len(prefix):]], ref.numpy(), rtol=1e-9,
                                   atol=1e-9, err_msg=name)

    dx = rng.standard_normal(x.shape)
    dparams = {k: rng.standard_normal(v.shape) for k, v in model.params.items()}
    dy = model.jvp(x, dx, dparams)
    primals = {n: named[n].detach() for n in names}
    tangents = {n: torch.tensor(dparams[n[len(prefix):]]) for n in names}
    _, dy_ref = torch.func.jvp(
        lambda p, xx: torch.func.functional_call(module, p, (xx,)),
        (primals, torch.tensor(x)), (tangents, torch.tensor(dx)))
    np.testing.assert_allclose(dy, dy_ref.numpy(), rtol=1e-9, atol=1e-9)


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


SMALL_RESNET = ResNetConfig(stem_out_channels=4, stage1_out_channels=4, stage2_out_channels=8,
                            stage3_out_channels=12, stage4_out_channels=6)


@pytest.mark.parametrize("cfg, in_c, h, w", [
    (CNN2Config(c1=3, c2=4, out_dim=5), 2, 12, 10),
    (CNN2Config(c1=2, c2=3, out_dim=4, k_h=3, k_w=2, stride1=2, padding1=0, padding2=2,
                pool_kh=3, pool_kw=2, pool_stride1=1, pool_stride2=2), 1, 15, 11),
])
def test_cnn2_agrees_with_torch(cfg, in_c, h, w):
    model = CNN2(cfg, in_c, h, w, seed=3)
    _compare(model, TorchCNN(cfg, in_c, model.feat_size, relu=True), _x((in_c, h, w)))


@pytest.mark.parametrize("relu", [False, True])
def test_cnn_chains_agree_with_torch(relu):
    build = cnn_with_relu_spec if relu else cnn_spec
    model = build(2, 3, 10, 9, stride2=2, seed=4)
    assert isinstance(model, CNNChain) and model.relu is relu
    assert model.cfg.c1 == model.cfg.c2 == model.cfg.out_dim == 3
    _compare(model, TorchCNN(model.cfg, 2, model.feat_size, relu=relu), _x((2, 10, 9)))


def test_cnn_chain_without_relu_is_linear_in_x():
    """cnnSpec has no activation: with zero conv biases every layer but the head's bias is
    positively homogeneous (max pool's argmax is kept by scaling by 2), so
    ``f(2x) - b_h = 2 (f(x) - b_h)``; a ReLU-free chain must not hide a ReLU."""
    model = cnn_spec(1, 2, 8, 8, seed=1)
    x = _x((1, 8, 8))
    b = model.params["head.bias"]
    params = dict(model.params, **{"conv1.bias": np.zeros(2), "conv2.bias": np.zeros(2)})
    np.testing.assert_allclose(model.forward(2 * x, params) - b,
                               2 * (model.forward(x, params) - b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg, in_c, out_c, h, w", [
    (UNet2Config(base_c=2), 2, 3, 8, 6),
    (UNet2Config(base_c=2, conv_kernel=5, conv_padding=2, pool_kernel=3, pool_stride=3,
                 up_kernel=3, up_stride=3, head_kernel=3, head_padding=1), 1, 2, 9, 6),
])
def test_unet2_agrees_with_torch(cfg, in_c, out_c, h, w):
    model = UNet2(cfg, in_c, out_c, seed=5)
    _compare(model, TorchUNet2(cfg, in_c, out_c), _x((in_c, h, w)))


@pytest.mark.parametrize("in_c, out_c, kind, projection", [
    (4, 4, "basic", False), (3, 6, "basic", False), (6, 4, "basic", False),
    (3, 6, "basic", True), (8, 16, "bottleneck", False), (16, 8, "bottleneck", False),
    (8, 16, "bottleneck", True),
])
def test_residual_blocks_agree_with_torch(in_c, out_c, kind, projection):
    cls = (lambda **k: Bottleneck(in_c, out_c, **k)) if kind == "bottleneck" else (
        lambda **k: ResidualBlock(in_c, out_c, kind="basic", **k))
    model = cls(projection=projection, seed=6)
    _compare(model, Batched(TorchBlock(in_c, out_c, kind, projection)), _x((in_c, 5, 4)),
             prefix="block.")


@pytest.mark.parametrize("projection", [False, True])
def test_small_resnet18_agrees_with_torch(projection):
    from dataclasses import replace

    cfg = replace(SMALL_RESNET, use_projection_shortcuts=projection)
    model = ResNet(cfg, in_c=3, num_classes=5, seed=7)
    _compare(model, TorchResNet(cfg, 3, 5), _x((3, 16, 16)))


def test_resnet18_depth_and_parameter_count_match_torch():
    cfg = ResNetConfig()
    torch_count = sum(p.numel() for p in TorchResNet(cfg, 3, 1000).parameters())
    # torchvision's resnet18 has 11,689,512 parameters; the spec drops its three 1x1
    # downsample projections with BN (8,192+256 + 32,768+512 + 131,072+1,024 = 173,824) and
    # gives its 17 convs a bias (64 + 4 * (64 + 128 + 256 + 512) = 3,904)
    assert resnet_param_count(cfg, 3, 1000) == torch_count == 11_689_512 - 173_824 + 3_904
    assert resnet_depth(cfg) == 10
    small = ResNet(SMALL_RESNET, 3, 5)
    assert small.weight_layers == 18 and small.depth == 10
    assert small.param_count == resnet_param_count(SMALL_RESNET, 3, 5)
    proj = ResNetConfig(use_projection_shortcuts=True)
    assert resnet_param_count(proj, 3, 10) == sum(
        p.numel() for p in TorchResNet(proj, 3, 10).parameters())


def test_resnet_spatial_sizes_follow_the_formula():
    model = ResNet(SMALL_RESNET, 3, 5)
    chain = model.spatial(16, 12)
    assert chain["H"]["stem"] == 8 and chain["H"]["pool"] == 3
    assert chain["W"]["stem"] == 6 and chain["W"]["pool"] == 2


def test_float32_models_run_in_float32():
    model = UNet2(UNet2Config(base_c=2), 1, 1, dtype=np.float32)
    x = _x((1, 6, 6)).astype(np.float32)
    grads, grad_x = model.vjp(x, np.ones((1, 6, 6), np.float32))
    assert model.forward(x).dtype == np.float32 and grad_x.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


# --------------------------------------------------------------------------------------
# UNet2's obligations and the bad inputs
# --------------------------------------------------------------------------------------
def test_unet2_names_each_failing_obligation_with_values():
    model = UNet2(UNet2Config(base_c=2), 1, 1)
    with pytest.raises(ShapeError) as info:
        model.forward(_x((1, 7, 6)))
    message = str(info.value)
    assert info.value.rule == "model_obligations"
    assert "h_upH" in message and "6 != 7" in message and "h_upW" not in message
    with pytest.raises(ShapeError, match="h_upW"):
        model.vjp(_x((1, 6, 5)), np.ones((1, 6, 5)))
    with pytest.raises(ShapeError, match="h_upH"):
        model.jvp(_x((1, 5, 6)), _x((1, 5, 6)))


def test_unet2_obligations_all_named():
    cfg = UNet2Config(conv_padding=0, head_kernel=3, base_c=1)
    with pytest.raises(ShapeError) as info:
        check_unet2_obligations(cfg, 7, 7)
    message = str(info.value)
    for name in ("h_convH", "h_convW", "h_convH_down", "h_convW_down", "h_upH", "h_upW",
                 "h_outH", "h_outW"):
        assert f"{name}:" in message
    assert "8 of the 8" in message
    check_unet2_obligations(UNet2Config(), 8, 10)  # the defaults hold at even sizes


@pytest.mark.parametrize("call, rule", [
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8).forward(_x((1, 8, 7))),
     "shape_match"),
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8).forward(
        _x((1, 8, 8)).astype(np.float32)), "dtype_mix"),
    (lambda: CNN2(CNN2Config(padding1=0), 1, 2, 2), "kernel_fits"),
    (lambda: CNN2(CNN2Config(pool_stride1=0), 1, 8, 8), "config_wf"),
    (lambda: CNN2(in_c=0), "positive_size"),
    (lambda: CNNChain(1, 2, 8, 8, c1=3), "config_field"),
    (lambda: UNet2(UNet2Config(base_c=0)), "config_wf"),
    (lambda: Bottleneck(4, 3), "config_field"),
    (lambda: ResidualBlock(2, 2, kind="wide"), "config_field"),
    (lambda: ResNet(ResNetConfig(stage2_blocks=0)), "config_field"),
    (lambda: ResNet(SMALL_RESNET, 3, 5).forward(_x((3, 2, 2))), "output_positive"),
    (lambda: ResNet(SMALL_RESNET, 3, 5).vjp(_x((3, 16, 16)), np.ones(4)), "shape_match"),
    (lambda: ResNet(SMALL_RESNET, 3, 5).jvp(_x((3, 16, 16)), _x((3, 16, 16)),
                                            {"nope": np.ones(1)}), "param_names"),
    (lambda: ResNet(SMALL_RESNET, 3, 5).forward(_x((3, 8, 8))), "lean_torch_divergence"),
    (lambda: ResidualBlock(2, 2).forward(_x((2, 1, 1))), "lean_torch_divergence"),
    (lambda: ResidualBlock(2, 2).forward(_x((2, 0, 3))), "input_nonempty"),
    (lambda: ResidualBlock(2, 2, projection=1), "config_field"),
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8, seed=-1), "nonneg_size"),
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8, seed=1.5), "integer_size"),
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8, dtype=np.int64), "dtype"),
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8, dtype="nope"), "dtype"),
    (lambda: CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 8, 8, dtype=None), "dtype"),
    (lambda: CNN2(in_c=True), "integer_size"),
    (lambda: CNN2(in_h=2**60), "huge_size"),
    (lambda: CNN2(in_h=2**20, in_w=2**20), "too_large"),
    (lambda: CNNChain(1, 2, 8, 8, kernel=3), "config_field"),
    (lambda: CNNChain(1, 2, 8, 8, relu=1), "config_field"),
    (lambda: UNet2("cfg"), "config_type"),
    (lambda: check_unet2_obligations(UNet2Config(), -1, 8), "nonneg_size"),
    (lambda: check_unet2_obligations(UNet2Config(), 8.0, 8), "integer_size"),
    (lambda: ResNet(SMALL_RESNET, 3, 0), "positive_size"),
    (lambda: resnet_param_count(SMALL_RESNET, 3, 0), "positive_size"),
])
def test_bad_model_input_names_the_rule(call, rule):
    with pytest.raises(ShapeError) as info:
        call()
    assert info.value.rule == rule, str(info.value)


# --------------------------------------------------------------------------------------
# Typed parameters and gradients; one dtype per call
# --------------------------------------------------------------------------------------
def _small_cnn():
    return CNN2(CNN2Config(c1=2, c2=2, out_dim=3), 1, 8, 8)


def test_params_and_grads_are_one_immutable_named_type():
    model = _small_cnn()
    x = _x((1, 8, 8))
    grads, _ = model.vjp(x, np.ones(3))
    assert isinstance(model.params, Params) and isinstance(grads, Params)
    assert list(grads) == list(model.params) == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "head.weight",
        "head.bias"]
    assert grads.layers == ("conv1", "conv2", "head")
    head = grads.layer("head")
    assert isinstance(head, Layer)
    assert head.weight is grads["head.weight"] and head.bias is grads["head.bias"]
    np.testing.assert_array_equal(head.bias, np.ones(3))  # d(Wf + b)/db . g = g
    with pytest.raises(TypeError):
        grads["head.bias"] = np.zeros(3)  # type: ignore[index]
    with pytest.raises(ShapeError) as info:
        grads.layer("conv3")
    assert info.value.rule == "param_names" and "conv1" in str(info.value)


def test_a_resnet_names_its_block_layers():
    model = ResNet(SMALL_RESNET, 3, 5)
    assert "layer1.0.bn2" in model.params.layers
    assert model.params.layer("layer1.0.bn2").weight.shape == (4,)


def _other_dtype(params):
    return {k: v.astype(np.float32) for k, v in params.items()}


@pytest.mark.parametrize("call", [
    pytest.param(lambda m, x: m.forward(x.astype(np.float32)), id="x"),
    pytest.param(lambda m, x: m.forward(x, _other_dtype(m.params)), id="params"),
    pytest.param(lambda m, x: m.forward(
        x, dict(m.params, **{"head.bias": m.params["head.bias"].astype(np.float32)})),
        id="one-param"),
    pytest.param(lambda m, x: m.vjp(x, np.ones(3, np.float32)), id="grad_y"),
    pytest.param(lambda m, x: m.jvp(x, x.astype(np.float32)), id="dx"),
    pytest.param(lambda m, x: m.jvp(x, x, {"head.bias": np.ones(3, np.float32)}),
                 id="dparams"),
    pytest.param(lambda m, x: m.forward(x.astype(np.float32), dict(m.params)),
                 id="x-vs-given-params"),
])
def test_mixed_float32_and_float64_are_refused_never_promoted(call):
    model, x = _small_cnn(), _x((1, 8, 8))
    with pytest.raises(ShapeError) as info:
        call(model, x)
    assert info.value.rule == "dtype_mix", str(info.value)


def test_float32_params_with_a_float32_input_run_in_float32():
    """One dtype per call: a float64 model given float32 parameters and input computes in
    float32 (nothing mixed, nothing promoted)."""
    model, x = _small_cnn(), _x((1, 8, 8)).astype(np.float32)
    params = _other_dtype(model.params)
    assert model.forward(x, params).dtype == np.float32
    grads, grad_x = model.vjp(x, np.ones(3, np.float32), params)
    assert grad_x.dtype == np.float32 and grads.dtype == np.float32


@pytest.mark.parametrize("call, rule", [
    (lambda m, x: m.forward(x, {k: v for k, v in m.params.items() if k != "head.bias"}),
     "param_names"),
    (lambda m, x: m.forward(x, dict(m.params, extra=np.ones(1))), "param_names"),
    (lambda m, x: m.forward(x, dict(m.params, **{"head.bias": np.ones(4)})), "shape_match"),
    (lambda m, x: m.forward(x, dict(m.params, **{"head.bias": [0.0, 0.0, 0.0]})),
     "array_type"),
    (lambda m, x: m.forward(x, dict(m.params, **{"head.bias": np.ones(3, int)})), "dtype"),
    (lambda m, x: m.forward(x, list(m.params.values())), "config_type"),
    (lambda m, x: m.jvp(x, x, [np.ones(3)]), "config_type"),
    (lambda m, x: m.jvp(x, x, {"head.bias": np.ones(4)}), "shape_match"),
    (lambda m, x: m.vjp(x, None), "array_type"),
    (lambda m, x: m.vjp(x, np.ones((3, 1))), "shape_match"),
    (lambda m, x: m.vjp(x, np.ones(3, bool)), "dtype"),
    (lambda m, x: m.forward(x.tolist()), "array_type"),
])
def test_bad_params_and_gradients_name_the_rule(call, rule):
    model, x = _small_cnn(), _x((1, 8, 8))
    with pytest.raises(ShapeError) as info:
        call(model, x)
    assert info.value.rule == rule, str(info.value)


def test_missing_tangents_are_zero():
    model, x = _small_cnn(), _x((1, 8, 8))
    dx = _x((1, 8, 8), seed=2)
    np.testing.assert_array_equal(model.jvp(x, dx), model.jvp(x, dx, {}))
    np.testing.assert_array_equal(model.jvp(x, dx, {"head.bias": None}), model.jvp(x, dx))
    np.testing.assert_array_equal(model.jvp(x, None, {"head.bias": np.ones(3)}), np.ones(3))
