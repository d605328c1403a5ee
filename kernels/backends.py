"""Kernel backends: one API, two ways to run the same CUDA source.

``"cupy"``
    CuPy ``RawModule`` on a GPU (NVRTC), with ``cupy.matmul`` (cuBLAS) for the contractions.
``"host"``
    The same CUDA source compiled for the CPU by the system C++ compiler through a small
    prelude that supplies CUDA's built-ins (see :mod:`nnbridge.kernels.host`), with
    ``numpy.matmul`` for the contractions.

Every kernel is a templated ``__global__`` function over the element type, instantiated for
``float`` and ``double``, written as a grid-stride loop: it is correct for any launch
configuration, and it uses neither shared memory nor ``__syncthreads`` nor atomics (the
backward passes are gathers), so running the blocks one after the other on the host, and
the threads of a block one after the other, is a faithful execution of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailable",
    "KernelSource",
    "all_sources",
    "available_backends",
    "backend_unavailable_reason",
    "get_backend",
    "launch_config",
]

#: Backend names, fastest first: the default is the first one available.
BACKENDS = ("cupy", "host")

#: Threads per block for every launch; grid-stride loops make any value correct.
BLOCK = 256
_MAX_GRID = 2**31 - 1

#: C type of each supported dtype, as the kernels' template argument.
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


class BackendUnavailable(RuntimeError):
    """A requested backend cannot run here (no CuPy, no GPU, no C++ compiler); says why."""


@dataclass(frozen=True)
class KernelSource:
    """A literal CUDA C source and the names of the ``__global__`` templates it defines.

    Each kernel is instantiated as ``name<float>`` and ``name<double>``.
    """

    name: str
    code: str
    kernels: tuple[str, ...]


def all_sources() -> tuple[KernelSource, ...]:
    """Every kernel source of the package (convolution, pooling)."""
    from .convolution import SOURCE as conv_source
    from .pooling import SOURCE as pool_source

    return (conv_source, pool_source)


def launch_config(total: int) -> tuple[int, int]:
    """``(grid, block)`` for ``total`` work items: one thread each, grid capped."""
    grid = max(1, min(-(-total // BLOCK), _MAX_GRID))
    return grid, BLOCK


class Backend:
    """What a launcher needs: an array module, conversions and kernel launches."""

    name: str = "?"
    xp = np

    def asarray(self, a, dtype=None):  # pragma: no cover - interface
        raise NotImplementedError

    def to_numpy(self, a) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def launch(self, kernel: str, dtype, total: int, args: tuple) -> None:
        """Run ``kernel<ctype(dtype)>`` over ``total`` work items with ``args``.

        Array arguments are arrays of this backend; integers are passed as C ``int``.
        """
        raise NotImplementedError  # pragma: no cover - interface

    def __repr__(self) -> str:
        return f"<nnbridge kernel backend {self.name!r}>"


_CACHE: dict[str, Backend] = {}
_FAILED: dict[str, str] = {}


def _make(name: str) -> Backend:
    if name == "host":
        from .host import HostBackend

        return HostBackend()
    from .cupy_backend import CupyBackend

    return CupyBackend()


def backend_unavailable_reason(name: str) -> str | None:
    """``None`` when backend ``name`` works here, else the reason it does not."""
    if name not in BACKENDS:
        return f"unknown kernel backend {name!r}; known backends: {', '.join(BACKENDS)}"
    if name in _CACHE:
        return None
    if name in _FAILED:
        return _FAILED[name]
    try:
        _CACHE[name] = _make(name)
    except BackendUnavailable as exc:
        _FAILED[name] = str(exc)
        return _FAILED[name]
    return None


def available_backends() -> tuple[str, ...]:
    """The backends that run on this machine, fastest first (``"cupy"``, then ``"host"``)."""
    return tuple(name for name in BACKENDS if backend_unavailable_reason(name) is None)


def get_backend(backend: str | Backend | None = None) -> Backend:
    """The backend object for ``backend``: a name, a :class:`Backend`, or ``None`` (fastest).

    Raises
    ------
    BackendUnavailable
        When the named backend cannot run here, with the reason, or when none can.
    """
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        reasons = []
        for name in BACKENDS:
            reason = backend_unavailable_reason(name)
            if reason is None:
                return _CACHE[name]
            reasons.append(f"{name}: {reason}")
        raise BackendUnavailable("no kernel backend is available: " + "; ".join(reasons))
    if not isinstance(backend, str):
        raise BackendUnavailable(
            f"backend must be a name ({', '.join(BACKENDS)}), a Backend or None, "
            f"got {backend!r}"
        )
    reason = backend_unavailable_reason(backend)
    if reason is not None:
        raise BackendUnavailable(f"kernel backend {backend!r} is not available: {reason}")
    return _CACHE[backend]
