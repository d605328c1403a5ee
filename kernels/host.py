"""The host backend: the package's CUDA sources compiled for the CPU with the C++ compiler.

One translation unit holds :data:`PRELUDE`, every kernel source verbatim, and one exported
``extern "C"`` launcher per kernel instantiation. A launcher has the calling convention of
CUDA's ``cuLaunchKernel``: the grid and block sizes, and ``void **params`` where
``params[i]`` points at the i-th argument's value. It runs the grid block by block (blocks
in parallel with OpenMP), the threads of a block one after the other. That is a faithful
execution of a kernel that never synchronises threads, and the prelude makes
``__syncthreads``, ``__shared__`` and the atomics compile errors, so a kernel that needs
block cooperation cannot silently run here.

Compiled modules are cached on disk under ``$NNBRIDGE_CACHE`` (default
``~/.cache/nnbridge``), in ``kernels/host-<hash>.so``, the hash covering the translation
unit's text, the compiler's identity and the flags.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .backends import (
    CTYPES,
    Backend,
    BackendUnavailable,
    KernelSource,
    check_launch_arguments,
    launch_config,
)

__all__ = [
    "FLAGS",
    "PRELUDE",
    "HostBackend",
    "cache_dir",
    "compile_host_module",
    "find_compiler",
    "translation_unit",
]

#: CUDA's built-ins for a C++17 compiler. Barriers, shared memory and atomics are left out on
#: purpose: using one is a compile error on the host (see the module docstring).
PRELUDE = r"""
// ---- nnbridge host prelude: CUDA built-ins for the CPU --------------------------------
#include <cstddef>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// One value per OpenMP thread: each host thread runs its own blocks.
static thread_local uint3 threadIdx;
static thread_local uint3 blockIdx;
static thread_local dim3 blockDim;
static thread_local dim3 gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// No block cooperation on the host: these names are compile errors, on purpose.
#define __shared__ nnbridge_host_has_no_shared_memory
#define __syncthreads() nnbridge_host_has_no_barriers()
#define atomicAdd(...) nnbridge_host_has_no_atomics()

static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, sizeof f); return f; }
static inline double __longlong_as_double(long long i) {
  double d; std::memcpy(&d, &i, sizeof d); return d;
}
template <typename T> static inline T __ldg(const T* p) { return *p; }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int)(((unsigned long long)a * b) >> 32);
}
// ---- end of prelude --------------------------------------------------------------------
"""

#: The launcher: cuLaunchKernel's convention, run on the CPU.
_LAUNCHER = r"""
// ---- nnbridge host launcher -------------------------------------------------------------
namespace nnbridge_host {
template <typename... Args, std::size_t... I>
static std::tuple<Args...> unpack(void** params, std::index_sequence<I...>) {
  return std::tuple<Args...>(*static_cast<Args*>(params[I])...);
}

// The kernel is a template argument, so the compiler can inline it into the thread loop;
// the arguments are read once per launch (they are the same for every thread).
template <auto Kernel, typename... Args>
static void run_grid(void (*)(Args...), const unsigned int* dims, void** params) {
  const auto args = unpack<std::remove_cv_t<std::remove_reference_t<Args>>...>(
      params, std::index_sequence_for<Args...>{});
  const dim3 grid(dims[0], dims[1], dims[2]);
  const dim3 block(dims[3], dims[4], dims[5]);
  const long long blocks = (long long)grid.x * grid.y * grid.z;
  #pragma omp parallel for schedule(static)
  for (long long b = 0; b < blocks; ++b) {
    gridDim = grid;
    blockDim = block;
    blockIdx.x = (unsigned int)(b % grid.x);
    blockIdx.y = (unsigned int)((b / grid.x) % grid.y);
    blockIdx.z = (unsigned int)(b / ((long long)grid.x * grid.y));
    for (unsigned int tz = 0; tz < block.z; ++tz)
      for (unsigned int ty = 0; ty < block.y; ++ty)
        for (unsigned int tx = 0; tx < block.x; ++tx) {
          threadIdx.x = tx; threadIdx.y = ty; threadIdx.z = tz;
          std::apply(Kernel, args);
        }
  }
}
}  // namespace nnbridge_host

#define NNBRIDGE_EXPORT(kernel, ctype, symbol) \
  extern "C" void symbol(const unsigned int* dims, void** params) { \
    nnbridge_host::run_grid<&kernel<ctype>>(&kernel<ctype>, dims, params); \
  }
"""

#: Compiler flags; part of the cache key.
FLAGS = ("-O2", "-std=c++17", "-fPIC", "-shared", "-fopenmp", "-x", "c++")


def symbol(kernel: str, ctype: str) -> str:
    """Exported name of ``kernel<ctype>``."""
    return f"nnbridge_{kernel}_{ctype}"


def translation_unit(sources: tuple[KernelSource, ...]) -> str:
    """The C++ text compiled for the host: prelude, sources verbatim, launchers."""
    parts = [PRELUDE]
    for source in sources:
        parts.append(f"// ---- source {source.name} ----\n{source.code}")
    parts.append(_LAUNCHER)
    for source in sources:
        for kernel in source.kernels:
            for ctype in ("float", "double"):
                parts.append(f"NNBRIDGE_EXPORT({kernel}, {ctype}, {symbol(kernel, ctype)})")
    return "\n".join(parts) + "\n"


def find_compiler() -> list[str]:
    """The C++ compiler command: ``$CXX``, else ``g++``, else ``c++``.

    Raises
    ------
    BackendUnavailable
        When none is found.
    """
    env = os.environ.get("CXX")
    if env:
        command = shlex.split(env)
        if not command or shutil.which(command[0]) is None:
            raise BackendUnavailable(f"host backend: $CXX={env!r} is not an executable")
        return command
    for name in ("g++", "c++"):
        if shutil.which(name):
            return [name]
    raise BackendUnavailable("host backend: no C++ compiler found (set $CXX, or install g++)")


def cache_dir() -> Path:
    """``$NNBRIDGE_CACHE/kernels``, default ``~/.cache/nnbridge/kernels``."""
    root = os.environ.get("NNBRIDGE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "nnbridge"
    )
    return Path(root) / "kernels"


def _compiler_identity(command: list[str]) -> str:
    try:
        out = subprocess.run(command + ["--version"], capture_output=True, text=True,
                             timeout=60)
    except OSError as exc:
        raise BackendUnavailable(f"host backend: cannot run {command[0]!r}: {exc}") from exc
    return (out.stdout.splitlines() or ["?"])[0]


def compile_host_module(sources: tuple[KernelSource, ...]) -> Path:
    """Compile (or find in the cache) the host module for ``sources``; its path.

    Raises
    ------
    BackendUnavailable
        No compiler, or the compiler rejected the translation unit (its messages follow).
    """
    command = find_compiler()
    text = translation_unit(sources)
    key = hashlib.sha256(
        "\0".join([text, _compiler_identity(command), " ".join(command), *FLAGS]).encode()
    ).hexdigest()[:24]
    directory = cache_dir()
    target = directory / f"host-{key}.so"
    if target.exists():
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendUnavailable(f"host backend: cannot create cache {directory}: {exc}") from exc
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        unit = Path(tmp) / f"host-{key}.cpp"
        unit.write_text(text)
        built = Path(tmp) / target.name
        result = subprocess.run(command + list(FLAGS) + [str(unit), "-o", str(built)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BackendUnavailable(
                f"host backend: {command[0]} rejected the kernel sources "
                f"({', '.join(s.name for s in sources)}):\n{result.stderr[-4000:]}"
            )
        os.replace(built, target)  # atomic: concurrent builders agree on the result
    return target


class HostBackend(Backend):
    """The CUDA sources run on the CPU (see the module docstring).

    Parameters
    ----------
    sources
        The kernel sources to build; default every source of the package. Tests pass
        altered sources here to check that the cross-checks catch a planted defect.
    """

    name = "host"
    xp = np

    def __init__(self, sources: tuple[KernelSource, ...] | None = None):
        if sources is None:
            from .backends import all_sources

            sources = all_sources()
        self.sources = tuple(sources)
        self.path = compile_host_module(self.sources)
        # blocks run in parallel with OpenMP, threads in turn: a few blocks per core
        self.max_blocks = 8 * (os.cpu_count() or 1)
        self._lib = ctypes.CDLL(str(self.path))
        self._functions: dict[str, ctypes._CFuncPtr] = {}

    def asarray(self, a, dtype=None):
        if hasattr(a, "__cuda_array_interface__"):
            a = a.get()
        return np.ascontiguousarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def _function(self, kernel: str, ctype: str):
        name = symbol(kernel, ctype)
        function = self._functions.get(name)
        if function is None:
            function = getattr(self._lib, name)
            function.restype = None
            function.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_void_p)]
            self._functions[name] = function
        return function

    def launch(self, kernel: str, dtype, total: int, args: tuple) -> None:
        if total <= 0:
            return
        parameters = self.parameters(kernel)
        check_launch_arguments(kernel, parameters, dtype, args)
        function = self._function(kernel, CTYPES[np.dtype(dtype)])
        grid, block = launch_config(total, self.max_blocks)
        dims = (ctypes.c_uint * 6)(grid, 1, 1, block, 1, 1)
        values = [ctypes.c_void_p(arg.ctypes.data) if p.pointer else ctypes.c_int(int(arg))
                  for p, arg in zip(parameters, args, strict=True)]
        params = (ctypes.c_void_p * len(values))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values]
        )
        function(dims, params)
