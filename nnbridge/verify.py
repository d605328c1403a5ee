"""``nnbridge verify``: every check nnbridge has, in one run.

Each step is ``(name, function)``; the function prints its own report and returns True when
everything it checked holds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["STEPS", "run_verify"]


def _prove() -> bool:
    from nnbridge.commands.prove import run_prove

    return run_prove()


def _adjoint() -> bool:
    from nnbridge.commands.adjoint import run_adjoint

    return run_adjoint()


#: (name, check) pairs run by ``nnbridge verify``, in order.
STEPS: list[tuple[str, Callable[[], bool]]] = [
    ("shape proofs", _prove),
    ("adjoint identities", _adjoint),
    ("unet rules", lambda: importlib.import_module("nnbridge.commands.unet").verify_presets()),
    ("kernels", lambda: importlib.import_module("nnbridge.kernels.verify").verify_kernels()),
]


def run_verify() -> bool:
    from nnbridge.report import console

    out = console()
    results = []
    for name, step in STEPS:
        out.rule(name)
        results.append((name, step()))
    out.rule("verdict")
    for name, ok in results:
        out.print(f"{name}: [{'bold green' if ok else 'bold red'}]{'PASS' if ok else 'FAIL'}[/]")
    return all(ok for _, ok in results)
