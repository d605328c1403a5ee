"""``check_torch`` on custom autograd Functions as people write them: every correct one
passes, every planted defect is caught, by the check that should catch it; bad input is a
UsageError naming its rule."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from nnbridge.spec.errors import UsageError  # noqa: E402

from nnbridge.adjoint import AdjointReport, CheckResult, check_torch  # noqa: E402
from nnbridge.adjoint.probe import MAX_ELEMENTS  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "adjoint"


def _example(name: str):
    """A module of examples/adjoint, loaded under its own name (the defects import the
    Functions by it)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


CASES = _example("autograd_functions").CASES
DEFECTS = _example("autograd_defects").DEFECTS

#: The checks each planted defect must fail (others may fail too).
MUST_FAIL = {
    "transposed_factor": {"adjoint[exact]", "adjoint[float32]", "adjoint[float64]"},
    "missing_broadcast_sum": {"backward[contract]"},
    "sign": {"adjoint[float32]", "adjoint[float64]"},
    "dropped_scale": {"adjoint[float32]", "adjoint[float64]"},
    "missing_epsilon": {"adjoint[float64]"},
    "swapped_gradients": {"adjoint[exact]", "adjoint[float32]", "adjoint[float64]"},
    "float16_accumulation": {"adjoint[float64]"},
    # the contract check lays grad_output out non-contiguously on purpose; whether the
    # identity trials also hand the backward a strided grad_output is autograd's choice
    "ignores_strides": {"backward[contract]"},
}
EXACT = {"matmul", "bias_add", "conv_unfold", "gather_rows"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The checks call tiny kernels thousands of times: threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def failed(report: AdjointReport) -> set[str]:
    return {f"{r.check}[{r.mode}]" for r in report.failures}


def by_check(report: AdjointReport) -> dict[str, CheckResult]:
    return {f"{r.check}[{r.mode}]": r for r in report.results}


# ---------------------------------------------------------------------------------------
# the suite: correct Functions pass, defects are caught
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_correct_function_passes(name):
    function, inputs = CASES[name]
    report = check_torch(function.apply, *inputs)
    assert report.passed, report.table()
    checks = by_check(report)
    assert list(checks) == ["backward[contract]", "adjoint[exact]", "adjoint[float32]",
                            "adjoint[float64]", "jvp[fd]"]
    assert checks["adjoint[exact]"].applicable is (name in EXACT), report.table()
    if name in EXACT:
        assert checks["adjoint[exact]"].worst_residual == 0.0
        assert checks["adjoint[exact]"].trials == 3
    else:
        assert checks["adjoint[exact]"].detail.startswith("not exact")
    for mode in ("float32", "float64"):
        r = checks[f"adjoint[{mode}]"]
        assert r.trials == 3 and 0 <= r.worst_residual <= r.tolerance
    assert report.directions == 3 * (2 + (name in EXACT) + (name == "tanh"))


@pytest.mark.parametrize("name", DEFECTS)
def test_every_defect_is_caught(name):
    case, defective, _ = DEFECTS[name]
    report = check_torch(defective.apply, *CASES[case][1])
    assert not report.passed
    assert MUST_FAIL[name] <= failed(report), report.table()
    assert "FAIL" in report.table()


def test_missing_broadcast_sum_is_named_though_autograd_repairs_it():
    case, defective, _ = DEFECTS["missing_broadcast_sum"]
    report = check_torch(defective.apply, *CASES[case][1])
    contract = by_check(report)["backward[contract]"]
    assert "gradient of shape (4, 5) for input 1 of shape (5,)" in contract.detail
    assert "missing sum over broadcast dimensions" in contract.detail
    assert by_check(report)["adjoint[float64]"].passed  # the values autograd hands on are right


def test_ignored_strides_are_named():
    case, defective, _ = DEFECTS["ignores_strides"]
    contract = by_check(check_torch(defective.apply, *CASES[case][1]))["backward[contract]"]
    assert "grad_output is non-contiguous" in contract.detail


def test_missing_epsilon_is_below_float32_but_not_float64():
    """The relative error of a missing eps = 1e-5 is ~1e-6: within float32's tolerance,
    thousands of times float64's."""
    case, defective, _ = DEFECTS["missing_epsilon"]
    checks = by_check(check_torch(defective.apply, *CASES[case][1]))
    assert checks["adjoint[float32]"].passed
    f64 = checks["adjoint[float64]"]
    assert f64.worst_residual > 100 * f64.tolerance


# ---------------------------------------------------------------------------------------
# where J u comes from
# ---------------------------------------------------------------------------------------
def test_jvp_sources():
    matmul, inputs = CASES["matmul"]
    fd = check_torch(matmul.apply, *inputs, modes=["float64", "fd"])
    assert fd.jvp_source.startswith("central differences (no forward mode: MatMul has no jvp")
    assert by_check(fd)["jvp[fd]"].applicable is False
    tanh = check_torch(CASES["tanh"][0].apply, (3, 4), modes=["float64", "fd"])
    assert tanh.jvp_source == "forward-mode AD"
    assert by_check(tanh)["jvp[fd]"].applicable and by_check(tanh)["jvp[fd]"].trials == 3
    plain = check_torch(lambda x, w: torch.tanh(x @ w), (3, 4), (4, 2), modes=["float64"])
    assert plain.passed and plain.jvp_source == "forward-mode AD"


class Square(torch.autograd.Function):
    """An old-style Function with a jvp staticmethod: forward-mode AD runs it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g

    @staticmethod
    def jvp(ctx, dx):
        (x,) = ctx.saved_tensors
        return 2 * x * dx


class TanhSharedDefect(torch.autograd.Function):
    """``1 - y`` for ``1 - y^2`` in BOTH the jvp and the backward: they stay adjoint."""

    @staticmethod
    def forward(x):
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y)

    @staticmethod
    def jvp(ctx, dx):
        (y,) = ctx.saved_tensors
        return dx * (1 - y)


def test_old_style_function_with_jvp_runs_under_forward_mode():
    report = check_torch(Square.apply, (4, 3))
    assert report.passed, report.table()
    assert report.jvp_source == "forward-mode AD"
    assert by_check(report)["adjoint[exact]"].applicable  # x*x at integers: exact


def test_a_defect_jvp_and_backward_share_is_caught_by_finite_differences():
    report = check_torch(TanhSharedDefect.apply, (3, 5))
    assert failed(report) == {"jvp[fd]"}, report.table()


# ---------------------------------------------------------------------------------------
# exact mode: where it applies, and why not
# ---------------------------------------------------------------------------------------
class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class Sawtooth(torch.autograd.Function):
    """``x - floor(x)``: slope 1, a kink at every integer."""

    @staticmethod
    def forward(ctx, x):
        return x - torch.floor(x)

    @staticmethod
    def backward(ctx, g):
        return g


class Staircase(torch.autograd.Function):
    """``floor(1e6 x) / 1e6 + x``: a kink every 1e-6, finer than any difference step."""

    @staticmethod
    def forward(ctx, x):
        return torch.floor(x * 1e6) / 1e6 + x

    @staticmethod
    def backward(ctx, g):
        return g


def test_exact_mode_needs_central_differences_to_be_exact():
    cube = by_check(check_torch(Cube.apply, (5,)))
    assert not cube["adjoint[exact]"].applicable
    assert "not exact: central differences are not exact" in cube["adjoint[exact]"].detail
    assert cube["adjoint[float64]"].passed
    saw = check_torch(Sawtooth.apply, (6,))
    assert saw.passed and not by_check(saw)["adjoint[exact]"].applicable, saw.table()


def test_a_function_with_kinks_everywhere_is_no_pass():
    report = check_torch(Staircase.apply, (4,), modes=["float64"])
    assert not report.passed
    assert "central differences do not converge" in by_check(report)["adjoint[float64]"].detail


def test_relu_network_is_exact_at_integer_points():
    report = check_torch(lambda x, w: torch.relu(x @ w), (3, 4), (4, 5))
    assert report.passed and by_check(report)["adjoint[exact]"].worst_residual == 0.0


# ---------------------------------------------------------------------------------------
# the backward's contract
# ---------------------------------------------------------------------------------------
def _function(backward):
    return type("Planted", (torch.autograd.Function,), {
        "forward": staticmethod(lambda ctx, x, w: x * w),
        "backward": staticmethod(backward)})


def test_a_backward_in_the_wrong_dtype_fails():
    upcast = _function(lambda ctx, g: (g.double(), g.double()))
    report = check_torch(upcast.apply, (3,), (3,), modes=["float32"])
    detail = by_check(report)["backward[contract]"].detail
    assert "returns torch.float64 for input 0 of dtype torch.float32" in detail


def test_a_backward_that_raises_fails_with_its_reason():
    def boom(ctx, g):
        raise RuntimeError("boom in backward")

    report = check_torch(_function(boom).apply, (3,), (3,))
    assert not report.passed
    assert "the backward raised RuntimeError: boom in backward" in by_check(
        report)["backward[contract]"].detail
    assert all("boom in backward" in r.detail for r in report.failures)


def test_a_backward_with_the_wrong_count_or_shape_fails():
    one = check_torch(_function(lambda ctx, g: g).apply, (3,), (3,), modes=["float64"])
    assert "the backward raised" in by_check(one)["backward[contract]"].detail
    assert "incorrect number of gradients" in by_check(one)["backward[contract]"].detail
    short = check_torch(_function(lambda ctx, g: (g[:2], g)).apply, (3,), (3,),
                        modes=["float64"])
    assert "the backward raised" in by_check(short)["backward[contract]"].detail


def test_a_forward_that_raises_fails_every_check():
    def broken(x):
        raise ValueError("forward exploded")

    report = check_torch(broken, (3,))
    assert not any(r.passed for r in report.results)
    assert all("forward exploded" in r.detail for r in report.results)


def test_a_detached_result_fails_the_contract():
    report = check_torch(lambda x: x.detach() * 2, (3,), modes=["float64"])
    assert "no output requires grad" in by_check(report)["backward[contract]"].detail


# ---------------------------------------------------------------------------------------
# modules, constants, the report
# ---------------------------------------------------------------------------------------
class HalfScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * w, (g * x).sum(0) / 2  # a stray factor in the parameter's gradient


class Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(4))

    def forward(self, x):
        return HalfScale.apply(x, self.w)


def test_modules_are_checked_in_their_parameters_too():
    report = check_torch(torch.nn.Linear(5, 3), (2, 5))
    assert report.passed and report.name == "Linear"
    assert by_check(report)["adjoint[exact]"].applicable
    broken = check_torch(Scaled(), (3, 4))
    assert {"adjoint[exact]", "adjoint[float64]"} <= failed(broken), broken.table()


def test_constants_are_kept_and_passed_through():
    index = torch.tensor([2, 0, 2])
    mask = torch.tensor([1.0, 0.0, 2.0])  # floating, no requires_grad: a constant
    report = check_torch(lambda x, i, m, k: x[i] * m * k, (3,), index, mask, 3)
    assert report.passed, report.table()
    example = torch.zeros(2, 3, requires_grad=True)
    assert check_torch(torch.sin, example, modes=["float64"]).passed


def test_report_figures_and_reproducibility():
    function, inputs = CASES["matmul"]
    first = check_torch(function.apply, *inputs, seed=7)
    again = check_torch(function.apply, *inputs, seed=7)
    other = check_torch(function.apply, *inputs, seed=8)
    residuals = [r.worst_residual for r in first.results]
    assert residuals == [r.worst_residual for r in again.results]
    assert residuals != [r.worst_residual for r in other.results]
    figures = first.as_dict()
    assert figures["passed"] is True and figures["directions"] == first.directions == 9
    assert [c["mode"] for c in figures["checks"]] == ["contract", "exact", "float32",
                                                      "float64", "fd"]
    assert len(first.timed()) == 5 and all(t >= 0 for _, t in first.timed())
    assert "worst residual" in str(first) and "n/a" in str(first)


def test_scalars_in_and_out():
    shapes = []

    def square(x):
        shapes.append(tuple(x.shape))
        return x * x

    assert check_torch(square, (), modes=["exact", "float64"]).passed
    assert set(shapes) == {()}
    assert check_torch(lambda x: torch.max(x), (4, 4), modes=["float64"]).passed
    assert check_torch(lambda x: x.sum(), (0, 3)).passed  # empty: nothing to disagree


def test_one_trial_and_one_mode():
    function, inputs = CASES["softmax"]
    report = check_torch(function.apply, *inputs, modes="float64", trials=1)
    assert [f"{r.check}[{r.mode}]" for r in report.results] == ["backward[contract]",
                                                               "adjoint[float64]"]
    assert report.directions == 1


# ---------------------------------------------------------------------------------------
# bad input: a UsageError naming its rule, before anything runs
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, rule, words", [
    (lambda: check_torch(3, (2,)), "param_value", "must be callable"),
    (lambda: check_torch(torch.sin, (2.5, 3)), "param_value", "a shape holds integers"),
    (lambda: check_torch(torch.sin, ("3",)), "param_value", "a shape holds integers"),
    (lambda: check_torch(torch.sin, (True, 3)), "param_value", "a shape holds integers"),
    (lambda: check_torch(torch.sin, (2, -1)), "param_value", "at least 0"),
    (lambda: check_torch(torch.sin, (2**20, 2**20)), "work_limit", str(MAX_ELEMENTS)),
    (lambda: check_torch(torch.sin, (10**40,)), "work_limit", "about 10**40"),
    (lambda: check_torch(torch.sin, (1,) * 40), "work_limit", "rank"),
    (lambda: check_torch(torch.sin, {"x": 1}), "param_value", "functools.partial"),
    (lambda: check_torch(torch.sin, torch.ones(3)), "param_value", "no differentiable"),
    (lambda: check_torch(torch.sin, torch.ones(2, dtype=torch.complex64)), "param_value",
     "dense real"),
    (lambda: check_torch(torch.sin, (2,), modes=("fast",)), "param_value", "choose among"),
    (lambda: check_torch(torch.sin, (2,), modes=[]), "param_value", "choose among"),
    (lambda: check_torch(torch.sin, (2,), trials=0), "param_value", "at least 1"),
    (lambda: check_torch(torch.sin, (2,), trials=10**6), "work_limit", "1000"),
    (lambda: check_torch(torch.sin, (2,), seed=-1), "param_value", "at least 0"),
    (lambda: check_torch(torch.sin, (2,), seed=True), "param_value", "integer"),
    (lambda: check_torch(torch.sin, (2,), float_factor=math.nan), "param_value", "number"),
    (lambda: check_torch(lambda x: x.expand(2**13, 2**12), (1, 2**12)), "work_limit",
     "outputs"),
])
def test_bad_input_is_a_usage_error(call, rule, words):
    with pytest.raises(UsageError) as info:
        call()
    assert info.value.rule == rule and words in str(info.value), str(info.value)
    assert info.value.rule.usage


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UsageError, match=r"PyTorch is not installed: pip install"):
        check_torch(lambda x: x, (2,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_the_inputs_device():
    function, _ = CASES["matmul"]
    x = torch.zeros(6, 6, device="cuda", requires_grad=True)
    assert check_torch(function.apply, x, x).passed
