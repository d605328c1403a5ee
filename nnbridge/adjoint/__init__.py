"""Adjoint identities: every backward rule checked as the adjoint of its forward derivative.

:func:`check_adjoint` checks ``<A u, v> = <u, A^T v>`` (exact and float modes),
:func:`check_jvp` checks a JVP against central finite differences, and
:mod:`nnbridge.adjoint.registry` holds every op and model they run over.

Your own code: :func:`check_torch` (a custom ``torch.autograd.Function``, an ``nn.Module``, a
function on tensors) and :func:`check_numpy` (a NumPy forward with its hand-written VJP)
return an :class:`AdjointReport`; :func:`torch_entry`, :func:`numpy_entry` and the
:func:`entry` decorator declare entries that ``nnbridge adjoint --entries`` and
``pytest --adjoint-entries`` run.

Names load on first use, so that importing the package (the pytest plugin does, in every
session) costs neither NumPy nor PyTorch. The registry is light and loads at once (its
function ``registry`` must win over the submodule of that name).
"""

from importlib import import_module

from .registry import ENTRY_MODULES, Case, Entry, entry, get, register, registry

_EXPORTS = {
    "CheckResult": ".check",
    "check_adjoint": ".check",
    "check_jvp": ".check",
    "inner": ".check",
    "Sampler": ".sampling",
    "AdjointReport": ".probe",
    "run_entry": ".runner",
    "check_torch": ".torch_check",
    "check_numpy": ".numpy_check",
    "load_entries": ".user_entries",
    "numpy_entry": ".user_entries",
    "torch_entry": ".user_entries",
}

__all__ = [
    "ENTRY_MODULES",
    "AdjointReport",
    "Case",
    "CheckResult",
    "Entry",
    "Sampler",
    "check_adjoint",
    "check_jvp",
    "check_numpy",
    "check_torch",
    "entry",
    "get",
    "inner",
    "load_entries",
    "numpy_entry",
    "register",
    "registry",
    "run_entry",
    "torch_entry",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
