"""Kernel backends: one API, two ways to run the same CUDA source.

``"cupy"``
    CuPy ``RawModule`` on a GPU (NVRTC), with ``cupy.matmul`` (cuBLAS) for the contractions.
``"host"``
    The same CUDA source compiled for the CPU by the system C++ compiler through a small
    prelude that supplies CUDA's built-ins (see :mod:`nnbridge.kernels.host`), with
    ``numpy.matmul`` for the contractions.

Every kernel is a templated ``__global__`` function over the element type, instantiated for
``float`` and ``double``, written as a grid-stride loop: it is correct for any launch
configuration (each backend caps the grid at about what it runs at once, so that a thread
sets its divisors up once and takes many elements), and it uses neither shared memory nor
``__syncthreads`` nor atomics (the backward passes are gathers), so running the blocks one
after the other on the host, and the threads of a block one after the other, is a faithful
execution of the grid.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailable",
    "KernelSource",
    "Parameter",
    "all_sources",
    "available_backends",
    "backend_unavailable_reason",
    "check_launch_arguments",
    "get_backend",
    "kernel_parameters",
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


@dataclass(frozen=True)
class Parameter:
    """One parameter of a ``__global__`` kernel: ``type`` is ``"T"`` (the element type) or
    ``"int"``; ``pointer`` and ``const`` as written in the source."""

    name: str
    type: str
    pointer: bool
    const: bool

    @property
    def code(self) -> str:
        """``"T*"``, ``"int*"``, ``"T"`` or ``"int"``: what the launch must pass."""
        return self.type + ("*" if self.pointer else "")


_PARAMETER = re.compile(r"^(const\s+)?(T|int)\s*(\*)?\s*(?:__restrict__\s*)?(\w+)$")


@functools.cache
def kernel_parameters(source: KernelSource, kernel: str) -> tuple[Parameter, ...]:
    """The parameter list of ``template <typename T> __global__ void kernel(...)``, read
    from the source text.

    Raises
    ------
    ValueError
        When the source does not define ``kernel`` once, or a parameter is not one of
        ``[const] T*``, ``[const] int*``, ``T`` or ``int`` (the types the launchers pass).
    """
    found = re.findall(rf"__global__\s+void\s+{re.escape(kernel)}\s*\(([^)]*)\)", source.code)
    if len(found) != 1:
        raise ValueError(f"source {source.name!r} defines kernel {kernel!r} "
                         f"{len(found)} times; expected once")
    parameters = []
    for text in found[0].split(","):
        text = " ".join(text.split())
        match = _PARAMETER.match(text)
        if match is None:
            raise ValueError(f"kernel {kernel!r}: unsupported parameter {text!r} (expected "
                             "[const] T*, [const] int*, T or int)")
        const, ctype, star, name = match.groups()
        parameters.append(Parameter(name, ctype, bool(star), bool(const)))
    return tuple(parameters)


def check_launch_arguments(kernel: str, parameters: tuple[Parameter, ...], dtype,
                           args: tuple) -> None:
    """Refuse a launch whose arguments do not match the kernel's parameters.

    A GPU launch packs its arguments blindly (a missing size or a float64 array behind a
    ``float*`` is garbage, not an error), so both backends check here first: the count,
    arrays exactly where pointers are, of the kernel's element type (``T`` = ``dtype``) or
    int32, C-contiguous; integers where ints are, within C ``int``.

    Raises
    ------
    TypeError
        Naming the kernel, the parameter and what was passed.
    """
    ctype = CTYPES[np.dtype(dtype)]
    if len(args) != len(parameters):
        raise TypeError(
            f"launch of {kernel}<{ctype}>: {len(args)} arguments for {len(parameters)} "
            f"parameters ({', '.join(p.name for p in parameters)})")
    for p, arg in zip(parameters, args, strict=True):
        if p.pointer:
            want = np.dtype(dtype) if p.type == "T" else np.dtype(np.int32)
            if not (hasattr(arg, "dtype") and hasattr(arg, "flags")):
                raise TypeError(f"launch of {kernel}<{ctype}>: parameter {p.name} "
                                f"({p.code}) needs an array, got {type(arg).__name__}")
            if arg.dtype != want or not arg.flags.c_contiguous:
                raise TypeError(
                    f"launch of {kernel}<{ctype}>: parameter {p.name} ({p.code}) needs a "
                    f"C-contiguous {want} array, got {arg.dtype}"
                    f"{'' if arg.flags.c_contiguous else ', not contiguous'}")
        elif p.type == "int":
            if isinstance(arg, bool) or not isinstance(arg, (int, np.integer)):
                raise TypeError(f"launch of {kernel}<{ctype}>: parameter {p.name} (int) "
                                f"needs an integer, got {type(arg).__name__}")
            if not -(2**31) <= int(arg) < 2**31:
                raise TypeError(f"launch of {kernel}<{ctype}>: parameter {p.name} (int) "
                                f"= {int(arg)} does not fit a C int")
        else:
            raise TypeError(f"launch of {kernel}<{ctype}>: scalar T parameters are not "
                            f"supported ({p.name})")


def all_sources() -> tuple[KernelSource, ...]:
    """Every kernel source of the package (convolution, pooling)."""
    from .convolution import SOURCE as conv_source
    from .pooling import SOURCE as pool_source

    return (conv_source, pool_source)


def launch_config(total: int, max_blocks: int = _MAX_GRID) -> tuple[int, int]:
    """``(grid, block)`` for ``total`` work items: one thread each, up to ``max_blocks``
    blocks; beyond, each thread's grid-stride loop takes several (the kernels set their
    divisors up once per thread, so a backend caps the grid at what it runs at once)."""
    grid = max(1, min(-(-total // BLOCK), max_blocks, _MAX_GRID))
    return grid, BLOCK


class Backend:
    """What a launcher needs: an array module, conversions and kernel launches."""

    name: str = "?"
    xp = np
    #: Most blocks per launch: about what the machine runs at once.
    max_blocks: int = _MAX_GRID

    def asarray(self, a, dtype=None):  # pragma: no cover - interface
        raise NotImplementedError

    def to_numpy(self, a) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    sources: tuple[KernelSource, ...] = ()

    def launch(self, kernel: str, dtype, total: int, args: tuple) -> None:
        """Run ``kernel<ctype(dtype)>`` over ``total`` work items with ``args``.

        Array arguments are arrays of this backend; integers are passed as C ``int``.
        """
        raise NotImplementedError  # pragma: no cover - interface

    def parameters(self, kernel: str) -> tuple[Parameter, ...]:
        """``kernel``'s parameter list, from the source of this backend that defines it."""
        for source in self.sources:
            if kernel in source.kernels:
                return kernel_parameters(source, kernel)
        raise KeyError(f"no kernel source of backend {self.name!r} defines {kernel!r}")

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
