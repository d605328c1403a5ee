"""``nnbridge kernels``: the package's kernel checks, and YOUR kernels against the specs.

``nnbridge kernels verify``
    Backends, the nvcc and NVRTC builds of every source, every kernel against the spec.
``nnbridge kernels check OP MODULE:FORWARD [--vjp MODULE:VJP]``
    A kernel author's implementation of ``conv``, ``conv_transpose``, ``max_pool`` or
    ``avg_pool`` (signatures of :mod:`nnbridge.kernels`, NumPy arrays in) searched by
    Hypothesis against the spec; on failure, the minimal configuration. ``MODULE`` is a
    dotted module name or a path to a ``.py`` file.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from nnbridge.report import console, write_json

__all__ = ["load_callable", "register"]


class TargetError(ValueError):
    """A ``MODULE:NAME`` that cannot be loaded; says which part and why."""


def load_callable(target: str):
    """The callable named by ``module.dotted:name`` or ``path/to/file.py:name``."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"{target!r}: expected MODULE:NAME (a module or a .py file, a "
                          "colon, the function's name)")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise TargetError(f"{target!r}: no such file {str(path)!r}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except TargetError:
        raise
    except Exception as exc:  # the user's module failed to import: say so, with its error
        raise TargetError(f"{target!r}: importing {module_name!r} failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    value = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise TargetError(f"{target!r}: {module_name!r} has no attribute {attr!r}")
        value = getattr(value, part)
    if not callable(value):
        raise TargetError(f"{target!r}: {attr!r} is not callable")
    return value


def _ranks(text: str) -> tuple[int, ...]:
    try:
        ranks = tuple(int(r) for r in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 2 or 1,2,3, got {text!r}") from None
    if not ranks or any(r not in (1, 2, 3) for r in ranks):
        raise argparse.ArgumentTypeError(f"spatial ranks are 1, 2 or 3, got {text!r}")
    return ranks


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _check(args) -> int:
    from nnbridge.kernels.implementation import check_implementation

    out = console()
    try:
        forward = load_callable(args.forward)
        vjp = load_callable(args.vjp) if args.vjp else None
    except TargetError as exc:
        print(f"nnbridge kernels check: error: {exc}", file=sys.stderr)
        return 2
    modes = tuple(args.modes.split(","))
    try:
        report = check_implementation(args.op, forward, vjp, ranks=args.ranks, modes=modes,
                                      max_examples=args.examples)
    except (ValueError, RuntimeError) as exc:
        print(f"nnbridge kernels check: error: {exc}", file=sys.stderr)
        return 2
    style = "green" if report.passed else "bold red"
    out.print(f"[{style}]{report.summary()}[/]")
    if args.json:
        c = report.counterexample
        write_json(args.json, {
            "op": report.op, "passed": report.passed, "examples": report.examples,
            "comparisons": report.comparisons, "worst_float32_ratio": report.worst_ratio,
            "mode": report.mode, "error": report.error,
            "counterexample": None if c is None else {
                "n": c.n, "c_in": c.c_in, "c_out": c.c_out, "size": c.size,
                "kernel": c.kernel, "stride": c.stride, "padding": c.padding, "seed": c.seed},
            "failures": [f.as_dict() for f in report.failures]})
    return 0 if report.passed else 1


def _verify(args) -> int:
    from nnbridge.kernels.verify import verify_kernels

    return 0 if verify_kernels() else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    from nnbridge.kernels.implementation import MODES, OPS

    p = subparsers.add_parser(
        "kernels", help="the package's kernel checks; check your own kernels against the specs",
        description="verify: the package's kernels (backends, nvcc and NVRTC builds, every "
                    "kernel against the spec). check: your implementation of an op searched "
                    "against the spec by Hypothesis, the minimal failing configuration shown.")
    sub = p.add_subparsers(dest="kernels_command", metavar="SUBCOMMAND", required=True)
    verify = sub.add_parser("verify", help="backends, nvcc and NVRTC builds, kernels vs spec")
    verify.set_defaults(func=_verify)
    check = sub.add_parser(
        "check", help="search for a configuration where your kernel disagrees with the spec",
        description="Runs FORWARD (and VJP) on configurations Hypothesis draws shape first, "
                    "against the NumPy spec: integer-valued float64 must be bit-equal, "
                    "float32 within the derived bound. Exit 1 with the minimal failing "
                    "configuration. Signatures as nnbridge.kernels: conv(x, w, b, stride, "
                    "padding), conv_vjp(x, w, b, grad_y, stride, padding) -> (grad_w, grad_b, "
                    "grad_x), max_pool(x, kernel, stride, padding), max_pool_vjp(x, grad_y, "
                    "kernel, stride, padding); NumPy arrays in, NumPy/CuPy/torch arrays out.")
    check.add_argument("op", choices=OPS)
    check.add_argument("forward", metavar="MODULE:FORWARD",
                       help="your forward, e.g. mykernels.conv or kernels.py:conv")
    check.add_argument("--vjp", metavar="MODULE:VJP", help="your backward (optional)")
    check.add_argument("--ranks", type=_ranks, default=(1, 2, 3),
                       help="spatial ranks it supports, e.g. 2 or 1,2,3 (default 1,2,3)")
    check.add_argument("--modes", default=",".join(MODES),
                       help="exact, float or exact,float (default both)")
    check.add_argument("--examples", type=_positive, default=100,
                       help="configurations per mode before shrinking (default 100)")
    check.add_argument("--json", metavar="FILE", help="write the report as JSON")
    check.set_defaults(func=_check)
