"""torch.export's verdict on sizes against the running truth: the comparison of
``benchmarks/bench_model_rule.py`` catches a disagreement in each direction, and nnbridge's
verdict on a real UNet is the running truth."""

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nnbridge.graph import from_torch, valid_sizes  # noqa: E402
from nnbridge.unet.explain import check  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load(ROOT / "benchmarks" / "bench_model_rule.py", "bench_model_rule")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread, which stays fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- planted disagreements ----------------------------------------------------------------------


@torch.library.custom_op("nnbridge_tests::pair_sum", mutates_args=())
def pair_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of neighbouring pairs on the last axis: ``n -> n / 2``, for even ``n`` only."""
    if x.shape[-1] % 2:
        raise RuntimeError(f"pair_sum needs an even last axis, got {x.shape[-1]}")
    return x.unflatten(-1, (-1, 2)).sum(-1)


@pair_sum.register_fake
def _pair_sum_fake(x):
    # the shape rule export reads: floor(n / 2), without the kernel's evenness check
    return x.new_empty(*x.shape[:-1], x.shape[-1] // 2)


class PairSum(nn.Module):
    """A kernel whose shape rule is laxer than the kernel: it fails on odd sizes."""

    def forward(self, x):
        return pair_sum(x)


class BranchOnSize(nn.Module):
    """A size-dependent branch: export keeps the branch of its example, guarded."""

    def forward(self, x):
        if x.shape[-1] > 8:
            return x * 2
        return x - 1


class PositionEmbedding(nn.Module):
    """A learned 16 x 16 position embedding (as UNETR's): only 16 x 16 inputs run."""

    def __init__(self):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(16, 16))

    def forward(self, x):
        return x + self.position


SIZES = range(1, 17)


def _export(bench, module, size=16):
    found = bench.export_side(module, torch.zeros(1, 1, size, size), 2, 1)
    assert found["ok"], found
    return found


def test_export_admits_sizes_the_kernel_refuses(bench):
    module = PairSum()
    found = _export(bench, module)
    runs = bench.export_sweep(found["program"], SIZES, 2, 1)
    truth = valid_sizes(module, 2, SIZES, output="any", channels=1)
    assert truth == [n for n in SIZES if n % 2 == 0]
    admitted = [r.shape[0] for r in runs if r.admitted]
    versus = bench.compare_sets(SIZES, admitted, truth)
    # the guards cannot see the kernel's own check: every odd size from 5 on is admitted
    # (3 is refused by a guard on the output's size, n // 2 != 1)
    assert set(range(5, 17, 2)) <= set(versus["admits_but_fails"])
    assert all(n % 2 for n in versus["admits_but_fails"])
    assert versus["admits_but_fails_count"] >= 6 and not versus["equal"]
    wrong = [r for r in runs if r.shape[0] in versus["admits_but_fails"]]
    # admitted, then failed inside the graph: not a guard's refusal
    assert {r.verdict for r in wrong} == {"fails"}
    assert all("pair_sum needs an even last axis" in r.detail for r in wrong)
    assert {r.verdict for r in runs if r.admitted and r.shape[0] % 2 == 0} == {"runs"}
    reasons = bench._reasons(runs, versus["admits_but_fails"])
    assert list(reasons) == ["RuntimeError: pair_sum needs an even last axis, got n"]


def test_export_refuses_sizes_the_module_runs_on(bench):
    module = BranchOnSize()
    found = _export(bench, module)
    assert found["dim"] == "DYNAMIC"
    runs = bench.export_sweep(found["program"], SIZES, 2, 1)
    truth = valid_sizes(module, 2, SIZES, output="any", channels=1)
    assert truth == list(SIZES)
    admitted = [r.shape[0] for r in runs if r.admitted]
    versus = bench.compare_sets(SIZES, admitted, truth)
    assert versus["refuses_but_runs"] == list(range(1, 9))
    assert versus["admits_but_fails"] == []
    refused = [r for r in runs if not r.admitted]
    assert {r.verdict for r in refused} == {"refused"}
    # the input checks: a range constraint (n >= 9) or a guard (n > 8)
    assert all("Guard failed" in r.detail or "Expected input" in r.detail for r in refused)
    reasons = bench._reasons(runs, versus["refuses_but_runs"])
    assert sorted(reasons.values()) == ["1-8"]


def test_a_specialised_export_is_recorded_and_admits_its_example_only(bench):
    module = PositionEmbedding()
    found = _export(bench, module)
    assert found["dim"] == "AUTO"  # Dim.DYNAMIC refuses to specialise
    assert [a["ok"] for a in found["attempts"]] == [False, True]
    assert "UserError" in found["attempts"][0]["error"]
    assert bench.describe_program(found["program"])["range_constraint_count"] == 0
    runs = bench.export_sweep(found["program"], SIZES, 2, 1)
    truth = valid_sizes(module, 2, SIZES, output="same", channels=1)
    admitted = [r.shape[0] for r in runs if r.admitted]
    assert admitted == truth == [16]
    assert "Expected input" in runs[0].detail and "equal to 16" in runs[0].detail


def test_compare_sets_counts_both_directions(bench):
    versus = bench.compare_sets(range(1, 11), admitted=[2, 3, 4, 9], truth=[4, 6, 8, 9])
    assert versus == {"admits_but_fails": [2, 3], "refuses_but_runs": [6, 8],
                      "admits_but_fails_count": 2, "refuses_but_runs_count": 2,
                      "equal": False}
    assert bench.compare_sets(range(1, 5), [2, 4], [4, 2])["equal"]
    assert bench._ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"


# -- agreement where there is nothing to find ---------------------------------------------------


def test_nnbridge_matches_running_on_monai_unet(bench):
    pytest.importorskip("monai")
    info = bench.load_models()["monai_unet"]
    torch.manual_seed(0)
    module = info["factory"]().eval()
    graph = from_torch(module, spatial_dims=2, mode="eval", batch=1, output="same")
    sizes = range(1, 65)
    truth = valid_sizes(module, 2, sizes, output="same")
    assert truth == list(range(8, 65, 4))
    mine = [n for n in sizes if check(graph, (n, n)).valid]
    assert bench.compare_sets(sizes, mine, truth)["equal"]


def test_export_matches_running_on_a_padded_conv_net(bench):
    module = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                           nn.Conv2d(2, 2, 3, padding=1)).eval()
    found = _export(bench, module)
    runs = bench.export_sweep(found["program"], SIZES, 2, 1)
    truth = valid_sizes(module, 2, SIZES, output="same")
    admitted = [r.shape[0] for r in runs if r.admitted]
    assert truth == admitted == list(SIZES)
    assert bench.compare_sets(SIZES, admitted, truth)["equal"]


def test_a_pooling_makes_export_disagree_at_small_sizes(bench):
    """Export admits size 1 at run time whatever its range's minimum (torch lets 0 and 1
    through its range check), and guards the example's branch of the size-1 special case."""
    module = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)).eval()
    found = _export(bench, module)
    runs = bench.export_sweep(found["program"], SIZES, 2, 1)
    truth = valid_sizes(module, 2, SIZES, output="any")
    assert truth == list(range(2, 17))
    versus = bench.compare_sets(SIZES, [r.shape[0] for r in runs if r.admitted], truth)
    assert versus["admits_but_fails"] == [1]
    assert runs[0].verdict == "fails"  # admitted, then the pooling gets a 1-pixel map
    assert set(versus["refuses_but_runs"]) <= {2, 3}
