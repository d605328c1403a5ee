"""The cupy backend: the package's CUDA sources as CuPy ``RawModule`` s on a GPU.

CuPy is imported lazily, only when this backend is asked for; it is an optional dependency
(the ``gpu`` extra). Each source becomes one ``RawModule`` (NVRTC) with its ``float`` and
``double`` instantiations named, compiled when the backend is created (so that an available
backend is one whose kernels build) and cached by CuPy on disk. Contractions use
``cupy.matmul`` (cuBLAS); CuPy leaves TF32 off unless ``CUPY_TF32=1``, so float32 results
keep the error bound of :mod:`nnbridge.kernels.crosscheck`.
"""

from __future__ import annotations

import numpy as np

from .backends import (
    BLOCK,
    CTYPES,
    Backend,
    BackendUnavailable,
    check_launch_arguments,
    launch_config,
)

__all__ = ["OPTIONS", "CupyBackend", "name_expressions"]

#: NVRTC options; ``-std=c++17`` as for the host build. :mod:`nnbridge.kernels.nvrtc_check`
#: compiles every source with these same options, without a GPU.
OPTIONS = ("-std=c++17",)


def name_expressions(source) -> list[str]:
    """The instantiations a source's ``RawModule`` names: ``kernel<float>``, ``kernel<double>``."""
    return [f"{k}<{c}>" for k in source.kernels for c in ("float", "double")]


class CupyBackend(Backend):
    """Kernels on the current CUDA device through CuPy.

    Raises
    ------
    BackendUnavailable
        When CuPy is not installed or no CUDA device is visible.
    """

    name = "cupy"

    def __init__(self, sources=None):
        try:
            import cupy
        except ImportError as exc:
            raise BackendUnavailable(
                f"cupy backend: CuPy is not installed ({exc}); install nnbridge[gpu] on a "
                "machine with an NVIDIA GPU"
            ) from exc
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver or runtime missing
            raise BackendUnavailable(f"cupy backend: no usable CUDA device ({exc})") from exc
        if count < 1:
            raise BackendUnavailable("cupy backend: no GPU is present (0 CUDA devices)")
        runtime = cupy.cuda.runtime
        sms = runtime.getDeviceProperties(runtime.getDevice())["multiProcessorCount"]
        # one wave of resident blocks: 2048 threads per multiprocessor on recent GPUs
        self.max_blocks = max(1, int(sms)) * (2048 // BLOCK)
        if sources is None:
            from .backends import all_sources

            sources = all_sources()
        self.cupy = cupy
        self.xp = cupy
        self.sources = tuple(sources)
        self._modules: dict[str, object] = {}
        self._functions: dict[tuple[str, str], object] = {}
        # compile now, so that "available" means the kernels build on this GPU
        for source in self.sources:
            try:
                self._module_for(source.kernels[0]).get_function(f"{source.kernels[0]}<float>")
            except Exception as exc:  # NVRTC or driver error, with its log
                raise BackendUnavailable(
                    f"cupy backend: NVRTC could not build source {source.name!r}: {exc}"
                ) from exc

    def asarray(self, a, dtype=None):
        return self.cupy.ascontiguousarray(self.cupy.asarray(a, dtype=dtype))

    def to_numpy(self, a) -> np.ndarray:
        return self.cupy.asnumpy(a)

    def _module_for(self, kernel: str):
        for source in self.sources:
            if kernel in source.kernels:
                module = self._modules.get(source.name)
                if module is None:
                    module = self.cupy.RawModule(code=source.code, options=OPTIONS,
                                                 name_expressions=name_expressions(source))
                    self._modules[source.name] = module
                return module
        raise KeyError(f"no kernel source defines {kernel!r}")

    def launch(self, kernel: str, dtype, total: int, args: tuple) -> None:
        if total <= 0:
            return
        parameters = self.parameters(kernel)
        check_launch_arguments(kernel, parameters, dtype, args)
        ctype = CTYPES[np.dtype(dtype)]
        function = self._functions.get((kernel, ctype))
        if function is None:
            function = self._module_for(kernel).get_function(f"{kernel}<{ctype}>")
            self._functions[(kernel, ctype)] = function
        grid, block = launch_config(total, self.max_blocks)
        values = tuple(a if p.pointer else np.int32(a)
                       for p, a in zip(parameters, args, strict=True))
        function((grid,), (block,), values)
