"""Check YOUR kernels against the specs: Hypothesis search, shrunk counterexample, figures.

For kernel authors: hand :func:`check_implementation` the forward (and backward) of your
conv, transposed conv, max pool or avg pool, with the signatures of
:mod:`nnbridge.kernels` (batched ``(N, C, *spatial)``, NumPy arrays in, any array-like out:
NumPy, CuPy, torch), and it runs them against the NumPy specs on configurations drawn shape
first by :mod:`nnbridge.kernels.strategies`, in both modes of
:mod:`nnbridge.kernels.crosscheck` (integer-valued float64, bit-exact; float32 within the
derived bound). On a failure Hypothesis shrinks it to a minimal configuration, which the
report names with the failing outputs and their figures.

>>> import torch, torch.nn.functional as F                          # doctest: +SKIP
>>> def my_conv(x, w, b, stride, padding):                          # doctest: +SKIP
...     return F.conv2d(torch.from_numpy(x), torch.from_numpy(w),
...                     None if b is None else torch.from_numpy(b), stride, padding)
>>> check_implementation("conv", my_conv, ranks=(2,)).passed        # doctest: +SKIP
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nnbridge.spec.errors import Rule, UsageError

from .crosscheck import Comparison, conv_checks, pool_checks

if TYPE_CHECKING:  # the strategies need Hypothesis, a test dependency: imported when used
    from .strategies import LayerConfig

__all__ = ["OPS", "ImplementationReport", "check_implementation", "run_config"]

#: The op families an implementation can be checked as.
OPS = ("conv", "conv_transpose", "max_pool", "avg_pool")
MODES = ("exact", "float")


@dataclass
class ImplementationReport:
    """What :func:`check_implementation` found.

    ``examples`` counts the configurations run (shrinking included), ``comparisons`` the
    outputs compared; ``worst_ratio`` is the largest error / tolerance seen in float mode on
    passing examples. On failure, ``counterexample`` is the minimal configuration Hypothesis
    shrank to, ``mode`` its mode, and ``failures`` its failing comparisons (or ``error``, the
    exception the implementation raised).
    """

    op: str
    passed: bool
    examples: int = 0
    comparisons: int = 0
    worst_ratio: float = 0.0
    counterexample: LayerConfig | None = None
    mode: str | None = None
    failures: list[Comparison] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if self.passed:
            return (f"{self.op}: PASS, {self.examples} configurations, {self.comparisons} "
                    f"outputs compared, worst float32 error {self.worst_ratio:.3g} of the bound")
        c = self.counterexample
        where = (f"N={c.n} C_in={c.c_in} C_out={c.c_out} size={c.size} kernel={c.kernel} "
                 f"stride={c.stride} padding={c.padding} seed={c.seed}") if c else "?"
        what = self.error or "; ".join(
            f"{f.name}: {f.detail}" if f.detail else
            f"{f.name}: max |impl - spec| = {f.max_error:.3g} ({f.worst_ratio:.3g} x bound)"
            for f in self.failures)
        return f"{self.op}: FAIL ({self.mode} mode) at {where}: {what}"


def run_config(op: str, config: LayerConfig, mode: str, forward=None, vjp=None, *,
               backend=None) -> list[Comparison]:
    """One configuration: draw its values from its seed, compare ``forward``/``vjp`` (or,
    when ``forward`` is None, the package's kernels on ``backend``) with the spec."""
    from .strategies import unique_values, values

    c = config
    x_shape = (c.n, c.c_in, *c.size)
    y_shape = (c.n, c.c_out, *c.out)
    if op in ("conv", "conv_transpose"):
        x = values(c.seed, mode, x_shape)
        w = values(c.seed + 1, mode, c.weight_shape())
        b = values(c.seed + 2, mode, (c.c_out,))
        grad_y = values(c.seed + 3, mode, y_shape)
        return conv_checks(x, w, b, grad_y, c.stride, c.padding, mode,
                           transpose=op == "conv_transpose", backend=backend, forward=forward,
                           vjp=vjp)
    kind = op.removesuffix("_pool")
    if kind == "max":
        x = unique_values(c.seed, mode, x_shape)
        grad_y = values(c.seed + 1, mode, y_shape)
    else:
        x = values(c.seed, mode, x_shape)
        # exact mode: grad_y a multiple of the window volume, so grad_y / volume is integral
        grad_y = values(c.seed + 1, mode, y_shape, scale=math.prod(c.kernel))
    return pool_checks(kind, x, grad_y, c.kernel, c.stride, c.padding, mode, backend=backend,
                       forward=forward, vjp=vjp)


class _Failed(AssertionError):
    pass


def _search(op, mode, forward, vjp, report: ImplementationReport, last: dict):
    """The property Hypothesis searches for one mode; ``last`` keeps the latest example."""

    def search(config):
        report.examples += 1
        last.clear()
        last.update(config=config, failures=[], error=None)
        try:
            results = run_config(op, config, mode, forward, vjp)
        except Exception as exc:  # the implementation under test raised
            last["error"] = f"{type(exc).__name__}: {exc}"
            raise _Failed(last["error"]) from exc
        report.comparisons += len(results)
        failed = [r for r in results if not r.passed]
        if failed:
            last["failures"] = failed
            raise _Failed(failed)
        if mode == "float":
            report.worst_ratio = max([report.worst_ratio, *(r.worst_ratio for r in results)])

    return search


def check_implementation(op: str, forward, vjp=None, *, ranks=(1, 2, 3), modes=MODES,
                         max_examples: int = 100, max_channels: int = 3,
                         derandomize: bool = True) -> ImplementationReport:
    """Search for a configuration where ``forward`` (or ``vjp``) disagrees with the spec.

    Parameters
    ----------
    op : "conv", "conv_transpose", "max_pool" or "avg_pool"
    forward, vjp : callables with the signatures of :mod:`nnbridge.kernels` (no
        ``backend``); ``vjp`` may be None to check the forward only
    ranks : spatial ranks the implementation supports, among 1, 2, 3
    modes : "exact" (integer-valued float64, bit-exact) and/or "float" (float32, derived
        bound)
    max_examples : configurations per mode before shrinking
    derandomize : the same configurations on every run (for CI)

    Returns
    -------
    ImplementationReport
        ``passed`` False with the minimal counterexample when any output disagrees or the
        implementation raises.
    """
    try:
        from hypothesis import HealthCheck, Verbosity, given, settings

        from .strategies import conv_configs, pool_configs
    except ImportError as exc:
        raise RuntimeError(f"check_implementation needs Hypothesis ({exc}): "
                           "pip install hypothesis, or nnbridge[test]") from exc

    if op not in OPS:
        raise UsageError(f"check_implementation: op must be one of {', '.join(OPS)}, "
                         f"got {op!r}", rule=Rule.UNKNOWN_NAME)
    if not callable(forward) or (vjp is not None and not callable(vjp)):
        raise UsageError("check_implementation: forward (and vjp, when given) must be callable",
                         rule=Rule.USER_CODE)
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise UsageError(f"check_implementation: modes must be among {MODES}, got {modes!r}",
                         rule=Rule.PARAM_VALUE)
    if op.endswith("_pool"):
        strategy = pool_configs(op.removesuffix("_pool"), ranks=ranks, max_channels=max_channels)
    else:
        strategy = conv_configs(op == "conv_transpose", ranks=ranks, max_channels=max_channels)
    report = ImplementationReport(op, passed=True)
    for mode in modes:
        last: dict = {}
        search = _search(op, mode, forward, vjp, report, last)
        search = given(config=strategy)(search)
        search = settings(max_examples=max_examples, derandomize=derandomize, database=None,
                          deadline=None, print_blob=False, report_multiple_bugs=False,
                          verbosity=Verbosity.quiet,
                          suppress_health_check=list(HealthCheck))(search)

        try:
            search()
        except _Failed:
            # Hypothesis re-runs the minimal failing example last: ``last`` holds it
            report.passed = False
            report.counterexample = last["config"]
            report.mode = mode
            report.failures = last["failures"]
            report.error = last["error"]
            return report
    return report
