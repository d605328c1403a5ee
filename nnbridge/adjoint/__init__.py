"""Adjoint identities: every backward rule checked as the adjoint of its forward derivative.

:func:`check_adjoint` checks ``<A u, v> = <u, A^T v>`` (exact and float modes),
:func:`check_jvp` checks a JVP against central finite differences, and
:mod:`nnbridge.adjoint.registry` holds every op and model they run over.
"""

from .check import CheckResult, check_adjoint, check_jvp, inner
from .registry import ENTRY_MODULES, Case, Entry, entry, get, register, registry
from .sampling import Sampler

__all__ = [
    "ENTRY_MODULES",
    "Case",
    "CheckResult",
    "Entry",
    "Sampler",
    "check_adjoint",
    "check_jvp",
    "entry",
    "get",
    "inner",
    "register",
    "registry",
]
