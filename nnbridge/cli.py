"""The ``nnbridge`` command line.

A cold start stays fast: the parser registers only the sub-command that runs (every one when
none is named, for the help and the list of choices), and each command imports its machinery
when it runs, so ``nnbridge unet check`` never loads NumPy, the kernels or the adjoint registry.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nnbridge import __version__
from nnbridge.spec.errors import NNBridgeError

__all__ = ["build_parser", "main"]

#: Sub-command modules under ``nnbridge.commands``; each has ``register(subparsers)``.
COMMANDS = ("prove", "adjoint", "unet", "kernels", "torchlean")


def command_named(argv: list[str]) -> str | None:
    """The sub-command ``argv`` starts with (after a ``--``, if any); ``None`` when it
    starts with an option (``-h`` then prints the help of every command) or is empty."""
    words = argv[1:] if argv[:1] == ["--"] else argv
    return words[0] if words and not words[0].startswith("-") else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` one of :data:`COMMANDS` (or ``verify``), only that
    command's sub-parser is registered (its module alone imported); otherwise all are."""
    from nnbridge.commands import UsageParser  # one-line usage errors, exit 2

    parser = UsageParser(
        prog="nnbridge",
        description="Verification bridge for neural-network layers: proved shape formulas, "
                    "NumPy specs with explicit backward rules, GPU kernels checked against them.")
    parser.add_argument("--version", action="version", version=f"nnbridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    verify = sub.add_parser("verify", help="run every check: proofs and, as they exist, the "
                                           "adjoint identities and kernel cross-checks")
    verify.set_defaults(func=_verify)
    known = command == "verify" or command in COMMANDS
    for name in COMMANDS:
        if not known or name == command:
            importlib.import_module(f"nnbridge.commands.{name}").register(sub)
    return parser


def _verify(args) -> int:
    from nnbridge.verify import run_verify

    return 0 if run_verify() else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_named(argv))
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
