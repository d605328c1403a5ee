"""Shared output helpers for the CLI: rich tables on a terminal, JSON files, progress."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["console", "verdict_style", "write_json"]


def console() -> Console:
    """A console that wraps to the terminal, or to 120 columns when output is piped."""
    return Console(width=None if sys.stdout.isatty() else 120, highlight=False)


def verdict_style(passed: bool) -> str:
    return "bold green" if passed else "bold red"


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON, creating parent folders."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
