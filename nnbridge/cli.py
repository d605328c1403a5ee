"""The ``nnbridge`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

from nnbridge import __version__
from nnbridge.spec.errors import NNBridgeError

__all__ = ["main"]

#: Sub-command modules under ``nnbridge.commands``; each has ``register(subparsers)``.
COMMANDS = ("prove", "adjoint", "unet", "kernels")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnbridge",
        description="Verification bridge for neural-network layers: proved shape formulas, "
                    "NumPy specs with explicit backward rules, GPU kernels checked against them.")
    parser.add_argument("--version", action="version", version=f"nnbridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    verify = sub.add_parser("verify", help="run every check: proofs and, as they exist, the "
                                           "adjoint identities and kernel cross-checks")
    verify.set_defaults(func=_verify)
    for name in COMMANDS:
        importlib.import_module(f"nnbridge.commands.{name}").register(sub)
    return parser


def _verify(args) -> int:
    from nnbridge.verify import run_verify

    return 0 if run_verify() else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except NNBridgeError as exc:  # ShapeError and UsageError: one line, exit 2
        print(f"nnbridge: error {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
