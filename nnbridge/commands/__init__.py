"""The ``nnbridge`` sub-commands, one module each with ``register(subparsers)``.

Shared here: :class:`UsageParser`, an ``argparse`` parser whose usage errors are one line
naming ``Rule.CLI_USAGE`` (exit status 2, as every other bad input), :func:`add_command` to
register a command with it, and :func:`integer_option`, which reads an integer option as
ASCII digits with explicit bounds (never a 5,000-digit conversion, never fullwidth digits).
"""

from __future__ import annotations

import argparse
import re
import sys

from nnbridge.spec.errors import Rule, UsageError

__all__ = ["UsageParser", "add_command", "integer_option", "shorten"]

#: The longest text an error message repeats verbatim.
SHOWN_CHARACTERS = 60


def shorten(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``repr(text)``, cut in the middle past ``limit`` characters with the length named."""
    if len(text) <= limit:
        return repr(text)
    half = limit // 2
    return f"{text[:half]!r}...{text[-half:]!r} ({len(text)} characters)"


class UsageParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors print one line, ``nnbridge: error
    [cli_usage] <prog>: <message>; fix: <prog> --help``, and exit with status 2.

    It refuses unknown arguments itself (``parse_known_args`` returns no extras): as a
    sub-command's parser it is handed every word after the command's name, so an unknown
    one is reported by the command, in one line, not left for the parent to report.
    """

    def error(self, message: str):  # argparse's hook for every usage error
        exc = UsageError(Rule.CLI_USAGE, detail=f"{self.prog}: {message}",
                         fix=f"{self.prog} --help")
        print(f"nnbridge: error {exc.one_line()}", file=sys.stderr)
        self.exit(2)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def add_command(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, **kwargs)`` as a :class:`UsageParser`.

    The parser the top-level command line hands out is a plain ``ArgumentParser`` unless
    its root is a :class:`UsageParser`; the class is then switched (it only overrides
    :meth:`UsageParser.error`), so every command's usage errors are one line either way.
    """
    parser = subparsers.add_parser(name, **kwargs)
    if type(parser) is argparse.ArgumentParser:
        parser.__class__ = UsageParser
    return parser


_INTEGER = re.compile(r"[+-]?[0-9]+")


def integer_option(option: str, text: str, *, minimum: int, maximum: int,
                   why: str = "") -> int:
    """``text`` as an int in ``minimum..maximum``: ASCII digits only, an optional sign.

    A value above ``maximum`` is ``Rule.WORK_LIMIT`` naming the limit (``why`` says what
    the limit protects); it is refused from its digit count, before any conversion, so a
    value of thousands of digits never reaches ``int()``. Malformed text is
    ``Rule.CLI_USAGE``; a value below ``minimum`` is ``Rule.PARAM_VALUE``.
    """
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        raise UsageError(Rule.CLI_USAGE, detail=f"{option}: expected an integer written with "
                                                f"the digits 0-9, got {shorten(text)}")
    digits = stripped.lstrip("+-").lstrip("0") or "0"
    negative = stripped.startswith("-") and digits != "0"
    if len(digits) > 100:  # far out of range: say so without converting
        if negative:
            raise UsageError(Rule.PARAM_VALUE, name=option,
                             detail=f"must be at least {minimum}, got {shorten(stripped)}")
        raise UsageError(Rule.WORK_LIMIT, name=option, value=f"<{len(digits)} digits>",
                         limit=maximum, detail=why or "a larger value is refused")
    value = -int(digits) if negative else int(digits)
    if value > maximum:
        raise UsageError(Rule.WORK_LIMIT, name=option, value=value, limit=maximum,
                         detail=why or "a larger value is refused")
    if value < minimum:
        raise UsageError(Rule.PARAM_VALUE, name=option,
                         detail=f"must be at least {minimum}, got {shorten(stripped)}")
    return value
