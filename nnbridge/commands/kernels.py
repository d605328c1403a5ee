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

from nnbridge.commands import UsageParser, add_command, integer_option, shorten
from nnbridge.report import check_output, console, write_json
from nnbridge.spec.errors import NNBridgeError, Rule, UsageError

__all__ = ["MAX_EXAMPLES", "load_callable", "register"]

#: The most configurations per mode ``--examples`` may ask for (the default is 100).
MAX_EXAMPLES = 10_000


def _user_code(target: str, exc: BaseException, doing: str) -> UsageError:
    """The user's code raised or exited: ``Rule.USER_CODE``, naming what it did."""
    if isinstance(exc, SystemExit):
        what = f"called sys.exit({exc.code!r})"
    else:
        what = f"raised {type(exc).__name__}: {exc}"
    return UsageError(Rule.USER_CODE, where=repr(target), detail=f"{doing} {what}")


def load_callable(target: str):
    """The callable named by ``module.dotted:name`` or ``path/to/file.py:name``.

    Raises
    ------
    UsageError
        ``Rule.CLI_USAGE`` for a target that is not ``MODULE:NAME``, ``Rule.CONFIG_FILE``
        for a missing file, ``Rule.USER_CODE`` when importing the module fails or exits
        (``sys.exit`` included: its status never becomes nnbridge's) or the name is
        missing or not callable.
    """
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(Rule.CLI_USAGE, detail=f"{shorten(target)}: expected MODULE:NAME (a "
                                                "module or a .py file, a colon, the "
                                                "function's name)")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise UsageError(Rule.CONFIG_FILE, path=repr(target),
                                 detail=f"no such file {str(path)!r}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            added = sys.modules.setdefault(path.stem, module) is module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                if added:
                    sys.modules.pop(path.stem, None)
                raise
        else:
            module = importlib.import_module(module_name)
    except (UsageError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # the user's module failed or exited: say so, with its error
        raise _user_code(target, exc, f"importing {module_name!r} failed:") from None
    value = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise UsageError(Rule.USER_CODE, where=repr(target),
                             detail=f"{module_name!r} has no attribute {attr!r}")
        value = getattr(value, part)
    if not callable(value):
        raise UsageError(Rule.USER_CODE, where=repr(target), detail=f"{attr!r} is not callable")
    return value


def _ranks(text: str) -> tuple[int, ...]:
    parts = text.split(",")
    if any(p.strip() not in ("1", "2", "3") for p in parts):
        raise UsageError(Rule.CLI_USAGE, detail=f"--ranks: spatial ranks are 1, 2 or 3, e.g. 2 "
                                                f"or 1,2,3; got {shorten(text)}")
    return tuple(sorted({int(p) for p in parts}))


def _modes(text: str) -> tuple[str, ...]:
    from nnbridge.kernels.implementation import MODES

    modes = tuple(m.strip() for m in text.split(","))
    if any(m not in MODES for m in modes):
        raise UsageError(Rule.CLI_USAGE, detail=f"--modes: expected {', '.join(MODES)} or "
                                                f"{','.join(MODES)}; got {shorten(text)}")
    return tuple(dict.fromkeys(modes))


def _check(args) -> int:
    from nnbridge.kernels.implementation import check_implementation

    ranks = _ranks(args.ranks)
    modes = _modes(args.modes)
    examples = integer_option("--examples", args.examples, minimum=1, maximum=MAX_EXAMPLES,
                              why="configurations per mode, before shrinking (default 100)")
    check_output(args.json)
    forward = load_callable(args.forward)
    vjp = load_callable(args.vjp) if args.vjp else None
    out = console()
    try:
        report = check_implementation(args.op, forward, vjp, ranks=ranks, modes=modes,
                                      max_examples=examples)
    except (NNBridgeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # Hypothesis refused the search (a flaky kernel, ...)
        from hypothesis.errors import HypothesisException

        if not isinstance(exc, HypothesisException | ExceptionGroup):
            raise
        where = args.forward + (f" or {args.vjp}" if args.vjp else "")
        raise _user_code(where, exc, "the search for a counterexample stopped: Hypothesis") \
            from None
    except BaseException as exc:  # sys.exit() or another BaseException in the user's kernel
        where = args.forward + (f" or {args.vjp}" if args.vjp else "")
        raise _user_code(where, exc, "while it was checked, the kernel") from None
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

    p = add_command(
        subparsers, "kernels",
        help="the package's kernel checks; check your own kernels against the specs",
        description="verify: the package's kernels (backends, nvcc and NVRTC builds, every "
                    "kernel against the spec). check: your implementation of an op searched "
                    "against the spec by Hypothesis, the minimal failing configuration shown.")
    sub = p.add_subparsers(dest="kernels_command", metavar="SUBCOMMAND", required=True,
                           parser_class=UsageParser)
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
    check.add_argument("--ranks", default="1,2,3",
                       help="spatial ranks it supports, e.g. 2 or 1,2,3 (default 1,2,3)")
    check.add_argument("--modes", default=",".join(MODES),
                       help="exact, float or exact,float (default both)")
    check.add_argument("--examples", default="100",
                       help=f"configurations per mode before shrinking (default 100, at most "
                            f"{MAX_EXAMPLES})")
    check.add_argument("--json", metavar="FILE", help="write the report as JSON")
    check.set_defaults(func=_check)
