"""Shared output helpers for the CLI: rich tables on a terminal, and the files commands write.

Every command that writes a file (``--json FILE``, ``--junit FILE``) goes through
:func:`check_output` before it does any work, so that a path that cannot be written fails at
once, and through :func:`write_output` (or :func:`write_json`) afterwards, which turns an
``OSError`` at write time (a full device, a folder removed meanwhile) into the same
:class:`~nnbridge.spec.errors.UsageError` (``Rule.OUTPUT_PATH``), exit status 2.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from nnbridge.spec.errors import Rule, UsageError

__all__ = ["check_output", "console", "verdict_style", "write_json", "write_output"]


def console():
    """A console that wraps to the terminal, or to 120 columns when output is piped."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120, highlight=False)


def verdict_style(passed: bool) -> str:
    return "bold green" if passed else "bold red"


def _refuse(path, detail: str) -> UsageError:
    return UsageError(Rule.OUTPUT_PATH, path=repr(str(path)), detail=detail)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_output(path: str | os.PathLike | None) -> Path | None:
    """Refuse, before any work, an output path that cannot be written; ``None`` passes.

    The path must not be a folder; its missing parent folders are created; the file is
    opened for appending (never truncated: an existing file keeps its content until the
    report replaces it) without blocking, and a file created by this probe is removed
    again. A FIFO with no reader is refused rather than waited on.

    Raises
    ------
    UsageError
        ``Rule.OUTPUT_PATH``, naming the path and the operating system's reason.
    """
    if path is None:
        return None
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise _refuse(text, "an empty path")
    if "\x00" in text:
        raise _refuse(text, "a path cannot contain a NUL character")
    target = Path(text)
    try:
        if target.is_dir():
            raise _refuse(text, "it is a folder; name a file inside it")
        existed = target.exists()
        if existed:
            mode = target.stat().st_mode
            if stat.S_ISSOCK(mode):
                raise _refuse(text, "it is a socket, not a file")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | (0 if existed else os.O_CREAT)
        try:
            descriptor = os.open(text, flags, 0o666)
        except OSError as exc:
            if existed and exc.errno == errno.ENXIO and stat.S_ISFIFO(mode):
                raise _refuse(text, "a FIFO with no reader") from None
            raise
        os.close(descriptor)
        if not existed:
            os.unlink(text)
    except UsageError:
        raise
    except OSError as exc:
        raise _refuse(text, _reason(exc)) from None
    return target


def write_output(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` (creating parent folders); an ``OSError`` becomes a
    :class:`UsageError` (``Rule.OUTPUT_PATH``)."""
    target = check_output(path)
    try:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise _refuse(os.fspath(path), _reason(exc)) from None


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Write ``payload`` as indented JSON through :func:`write_output`."""
    write_output(path, json.dumps(payload, indent=2, default=str) + "\n")
