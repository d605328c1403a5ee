"""runs_on and valid_sizes: what running a module says about a size, on real UNets."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from nnbridge.spec.errors import Rule, ShapeError, UsageError  # noqa: E402
from torch import nn  # noqa: E402

from nnbridge.graph.running import RunResult, runs_on, valid_sizes  # noqa: E402

UNETS = Path(__file__).resolve().parents[2] / "examples" / "models" / "unets.py"


def _unets():
    spec = importlib.util.spec_from_file_location("example_unets", UNETS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def unets():
    return _unets()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread, which stays fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _buffers(module):
    return {name: buf.clone() for name, buf in module.named_buffers()}


def _flags(module):
    return [sub.training for sub in module.modules()]


# -- valid and invalid sizes on real UNets ----------------------------------------------------


def test_plain_unet_runs_from_16_and_keeps_the_size(unets):
    torch.manual_seed(0)
    net = unets.plain_unet()
    ok = runs_on(net, (37, 32))
    assert ok == RunResult(shape=(37, 32), runs=True, output=(37, 32), error=None)
    assert ok.same
    bad = runs_on(net, (15, 32))  # the fourth pooling gets a 1-pixel map: 1 // 2 = 0
    assert not bad.runs and not bad.same and bad.output is None
    assert bad.error.startswith("RuntimeError: ") and "too small" in bad.error
    assert "\n" not in bad.error


def test_transposed_up_sampling_breaks_the_padding_idiom_nowhere(unets):
    net = unets.plain_unet(bilinear=False)
    assert runs_on(net, (33, 17)).same


def test_valid_unet_shrinks_and_needs_188(unets):
    net = unets.valid_unet()
    ok = runs_on(net, (188, 188))
    assert ok.runs and ok.output == (4, 4) and not ok.same and ok.error is None
    bad = runs_on(net, (187, 188))
    assert not bad.runs and bad.error.startswith("RuntimeError: ")


def test_valid_sizes_any_and_same_on_the_valid_unet(unets):
    net = unets.valid_unet()
    assert valid_sizes(net, 2, range(186, 191), axis=0, others=(0, 188), output="any") == [
        188, 189, 190]
    assert valid_sizes(net, 2, range(186, 191), axis=0, others=(0, 188)) == []


def test_valid_sizes_on_one_axis_of_an_anisotropic_3d_unet(unets):
    pytest.importorskip("monai")
    net = unets.monai_unet_3d()
    # the last axis is halved once (stride 1 then 2): even sizes; the others by 4
    assert valid_sizes(net, 3, range(1, 9), axis=2, others=(8, 8, None)) == [2, 4, 6, 8]
    assert valid_sizes(net, 3, range(1, 13), axis=0, others=(None, 8, 2)) == [4, 8, 12]
    assert valid_sizes(net, 3, range(1, 13)) == [4, 8, 12]


# -- train mode -----------------------------------------------------------------------------


def test_train_mode_with_batch_1_fails_where_a_batch_norm_sees_one_value(unets):
    net = unets.plain_unet()
    # at 16 the bottleneck is 1x1: one value per channel for batch 1
    train = runs_on(net, (16, 16), mode="train")
    assert not train.runs
    assert train.error.startswith("ValueError: Expected more than 1 value per channel")
    assert runs_on(net, (16, 16), mode="train", batch=2).same
    assert runs_on(net, (16, 16), mode="eval").same
    assert runs_on(net, (32, 32), mode="train").same
    assert valid_sizes(net, 2, range(14, 34), mode="train") == list(range(32, 34))


@pytest.mark.parametrize("shape", [(32, 32), (16, 16)], ids=["runs", "raises midway"])
def test_train_mode_leaves_buffers_and_modes_unchanged(unets, shape):
    torch.manual_seed(0)
    net = unets.plain_unet()
    for sub in net.modules():
        if isinstance(sub, nn.BatchNorm2d):
            sub.running_mean.normal_()
            sub.running_var.uniform_(0.5, 2.0)
    net.eval()
    net.down2.train()  # a mixed state must come back as it was
    before, flags = _buffers(net), _flags(net)

    runs_on(net, shape, mode="train")
    after = _buffers(net)
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert _flags(net) == flags

    # the check can fail: the same forward, unguarded, moves the running statistics
    net.train()
    with torch.no_grad():
        net(torch.zeros(1, 1, 32, 32))
    moved = _buffers(net)
    assert not all(torch.equal(moved[k], before[k]) for k in before)


# -- a planted defect -------------------------------------------------------------------------


class _Defect(nn.Module):
    """A 3x3 'same' convolution that raises ``error`` at one width only."""

    def __init__(self, width: int, error: type[Exception]):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, kernel_size=3, padding=1)
        self.width, self.error = width, error

    def forward(self, x):
        if x.shape[-1] == self.width:
            raise self.error(f"planted failure at {self.width}\nsecond line")
        return self.conv(x)


@pytest.mark.parametrize("error", [RuntimeError, ValueError, AssertionError, IndexError,
                                   TypeError, KeyError, ZeroDivisionError])
def test_a_failure_at_one_size_is_caught_at_exactly_that_size(error):
    net = _Defect(37, error)
    assert valid_sizes(net, 2, range(1, 65)) == [n for n in range(1, 65) if n != 37]
    assert valid_sizes(net, 2, range(30, 40), axis=0, others=(0, 5)) == list(range(30, 40))
    assert valid_sizes(net, 2, range(30, 40), axis=1, others=(5, 0)) == [
        n for n in range(30, 40) if n != 37]
    result = runs_on(net, (4, 37))  # channels read from the first convolution: 3
    assert not result.runs
    assert result.error.startswith(f"{error.__name__}: ")
    assert "planted failure at 37" in result.error and "\n" not in result.error
    if error is not KeyError:  # str(KeyError) is the repr of its key: one line already
        assert "second line" not in result.error


def test_a_wrong_output_size_runs_but_is_not_same():
    class Crop(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 2, kernel_size=1)

        def forward(self, x):
            y = self.conv(x)
            return y[..., :-1] if x.shape[-1] == 9 else y

    net = Crop()
    assert valid_sizes(net, 1, range(1, 12)) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert valid_sizes(net, 1, range(1, 12), output="any") == list(range(1, 12))
    assert runs_on(net, (9,)) == RunResult(shape=(9,), runs=True, output=(8,))


# -- bad input ------------------------------------------------------------------------------


def test_a_module_without_a_convolution_needs_channels():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(UsageError) as info:
        runs_on(net, (4,))
    assert info.value.rule == Rule.DESCRIPTION_VALUE and "channels=" in str(info.value)
    assert runs_on(net, (4,), channels=1).runs
    assert not runs_on(net, (5,), channels=1).runs


@pytest.mark.parametrize(("call", "error", "rule"), [
    (lambda net: runs_on(net, (0, 4)), ShapeError, Rule.POSITIVE_SIZE),
    (lambda net: runs_on(net, (4.0, 4)), ShapeError, Rule.INTEGER_SIZE),
    (lambda net: runs_on(net, (4, 4), mode="test"), UsageError, Rule.DESCRIPTION_VALUE),
    (lambda net: runs_on(net, (4, 4), batch=0), ShapeError, Rule.POSITIVE_SIZE),
    (lambda net: valid_sizes(net, 2, output="equal"), UsageError, Rule.DESCRIPTION_VALUE),
    (lambda net: valid_sizes(net, 2, axis=2, others=(4, 4)), UsageError,
     Rule.DESCRIPTION_VALUE),
    (lambda net: valid_sizes(net, 2, axis=0, others=(4,)), UsageError, Rule.DESCRIPTION_VALUE),
    (lambda net: valid_sizes(net, 2, others=(4, 4)), UsageError, Rule.DESCRIPTION_VALUE),
])
def test_bad_arguments_name_their_rule(call, error, rule):
    with pytest.raises(error) as info:
        call(_Defect(37, RuntimeError))
    assert info.value.rule == rule


def test_importing_running_does_not_import_torch():
    code = "import sys, nnbridge.graph.running; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


# -- the example models -----------------------------------------------------------------------

#: One size each model runs on (all axes), as measured by valid_sizes over 1..128.
ONE_VALID = {"plain_unet": 16, "valid_unet": 188, "monai_unet": 8, "monai_unet_3d": 4,
             "basic_unet": 32, "dyn_unet": 16, "attention_unet": 4, "unetr": 32,
             "swin_unetr": 64}
NEEDS_EINOPS = {"unetr", "swin_unetr"}


@pytest.mark.parametrize("name", sorted(ONE_VALID))
def test_every_example_model_builds_and_runs(unets, name):
    meta = unets.MODELS[name]
    if name not in {"plain_unet", "valid_unet"}:
        pytest.importorskip("monai")
    if name in NEEDS_EINOPS:
        pytest.importorskip("einops")
    net = meta["factory"]()
    shape = (ONE_VALID[name],) * meta["spatial_dims"]
    result = runs_on(net, shape)
    assert result.runs, result.error
    assert result.same == (meta["output"] == "same")
    below = runs_on(net, (ONE_VALID[name] - 1,) * meta["spatial_dims"])
    assert not (below.same if meta["output"] == "same" else below.runs)


def test_the_models_table_is_complete(unets):
    assert set(unets.MODELS) == set(ONE_VALID)
    for name, meta in unets.MODELS.items():
        assert meta["factory"].__name__ == name
        assert meta["spatial_dims"] in (2, 3) and meta["output"] in ("same", "any")
        assert meta["note"]
