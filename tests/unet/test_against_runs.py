"""The verdicts agree with running the networks: the NumPy UNet2 spec, and MONAI's UNet."""

import re

import numpy as np
import pytest
from nnbridge.spec.errors import ShapeError

from nnbridge.unet import build_preset, check


@pytest.mark.parametrize("params", [{}, {"pool_kernel": "3", "pool_stride": "3",
                                         "up_kernel": "3", "up_stride": "3"}])
def test_unet2_spec_runs_exactly_on_valid_sizes(params):
    from nnbridge.spec.models import UNet2

    desc = build_preset("torchlean-unet2", params)
    model = UNet2(desc.cfg.__class__(**{**desc.cfg.__dict__, "base_c": 2}))
    for h in range(1, 13):
        for w in (h, 6):
            result = check(desc, (h, w))
            failing = {o.name for a in result.axes for o in a.trace.obligations if not o.holds}
            try:
                y = model.forward(np.zeros((1, h, w)))
            except ShapeError as exc:
                assert not result.valid, (h, w)
                assert set(re.findall(r"h_\w+?(?=:)", str(exc))) == failing
            else:
                assert result.valid and y.shape == (1, h, w), (h, w)


MONAI_CASES = [
    ({"strides": "2,2,2,2"}, [(h, 32) for h in range(10, 36)] + [(16, 16), (16, 32), (48, 17)]),
    ({"strides": "2,3", "num_res_units": "2", "kernel_size": "5"},
     [(h, 12) for h in range(3, 27)] + [(6, 6), (6, 12)]),
    ({"strides": "2,2", "norm": "batch"}, [(h, 4) for h in range(1, 14)] + [(4, 4)]),
    ({"spatial_dims": "3", "strides": "2x2x1,2", "kernel_size": "3x3x1",
      "up_kernel_size": "3x3x1"},
     [(8, 8, w) for w in range(1, 7)] + [(4, 4, 2), (4, 4, 1), (4, 8, 3), (6, 8, 2)]),
]


def _monai_runs(net, shape) -> bool:
    import torch

    try:
        with torch.no_grad():
            y = net(torch.zeros((1, 1, *shape)))
    except (RuntimeError, ValueError):
        return False
    return tuple(y.shape[2:]) == tuple(shape)


@pytest.mark.parametrize(("params", "shapes"), MONAI_CASES, ids=[str(p) for p, _ in MONAI_CASES])
def test_monai_unet_runs_exactly_on_valid_sizes(params, shapes):
    pytest.importorskip("monai")
    from monai.networks.nets import UNet

    desc = build_preset("monai", params)
    levels = len(desc.levels) - 1
    strides = [tuple(int(v) for v in s.split("x")) if "x" in s else int(s)
               for s in params["strides"].split(",")]
    kernel = params.get("kernel_size", "3")
    up_kernel = params.get("up_kernel_size", "3")

    def parse(v):
        return tuple(int(x) for x in v.split("x")) if "x" in v else int(v)

    net = UNet(spatial_dims=desc.spatial_dims, in_channels=1, out_channels=1,
               channels=(2,) * (levels + 1), strides=strides, kernel_size=parse(kernel),
               up_kernel_size=parse(up_kernel),
               num_res_units=int(params.get("num_res_units", 0)),
               norm=params.get("norm", "instance")).eval()
    agree = [(shape, check(desc, shape).valid, _monai_runs(net, shape)) for shape in shapes]
    assert [a for a in agree if a[1] != a[2]] == []
    assert any(v for _, v, _ in agree) and not all(v for _, v, _ in agree)


BATCH_NORM_SHAPES = [(16, 16), (16, 32), (32, 16), (32, 32), (48, 16), (8, 8), (24, 16)]


@pytest.mark.parametrize("training_batch", [1, 2])
def test_monai_batch_norm_in_training_agrees(training_batch):
    """Batch norm in training: a 1x1 bottleneck fails with a batch of 1 only."""
    pytest.importorskip("monai")
    import torch
    from monai.networks.nets import UNet

    params = {"strides": "2,2,2,2", "norm": "batch", "training_batch": str(training_batch)}
    desc = build_preset("monai", params)
    net = UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(2,) * 5,
               strides=(2, 2, 2, 2), norm="batch").train()

    def runs(shape):
        try:
            with torch.no_grad():
                y = net(torch.zeros((training_batch, 1, *shape)))
        except (RuntimeError, ValueError):
            return False
        return tuple(y.shape[2:]) == shape

    agree = [(s, check(desc, s).valid, runs(s)) for s in BATCH_NORM_SHAPES]
    assert [a for a in agree if a[1] != a[2]] == []
    assert check(desc, (16, 16)).valid is (training_batch != 1)


@pytest.mark.parametrize("channels", ["0,0,0,0", "4,0", "0,4"])
def test_monai_channels_of_zero_are_refused_as_monai_fails_to_run(channels):
    """MONAI builds a UNet with a 0 in ``channels`` (its own checks are on lengths only) but
    PyTorch refuses to run it; the preset refuses it as bad input, not as a size verdict."""
    pytest.importorskip("monai")
    import torch
    from monai.networks.nets import UNet
    from nnbridge.spec.errors import UsageError

    values = tuple(int(c) for c in channels.split(","))
    strides = (2,) * (len(values) - 1)
    with pytest.warns(UserWarning):  # PyTorch warns on initialising a zero-element tensor
        net = UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=values,
                   strides=strides).eval()
    with pytest.raises(RuntimeError), torch.no_grad():
        net(torch.zeros((1, 1, 16, 16)))
    with pytest.raises(UsageError) as info:
        build_preset("monai", {"channels": channels, "strides": ",".join(map(str, strides))})
    assert info.value.rule == "param_value" and "at least 1" in str(info.value)
    assert check(build_preset("monai", {"channels": "4,4", "strides": "2"}), (16, 16)).valid
