"""GPU kernels: CUDA C sources run by CuPy on a GPU, or compiled for the CPU (host backend).

Batched ``(N, C, *spatial)`` versions of the specs' layers, float32 and float64, 1 to 3
spatial axes, each taking the spec's arguments plus ``backend=`` (``"cupy"``, ``"host"``
or ``None`` for the fastest available). Results are arrays of the backend (CuPy arrays on
``"cupy"``, NumPy arrays on ``"host"``); gradients of parameters are summed over the batch.

Modules: :mod:`~nnbridge.kernels.convolution` and :mod:`~nnbridge.kernels.pooling` (CUDA
sources next to their launchers), :mod:`~nnbridge.kernels.backends` (backend choice, and the
launch-argument check against each kernel's parameter list), :mod:`~nnbridge.kernels.host`
(the C++ prelude, launcher and compile cache), :mod:`~nnbridge.kernels.cupy_backend`,
:mod:`~nnbridge.kernels.device` (the index arithmetic every source starts with: fixed-
divisor division by multiply and shift), :mod:`~nnbridge.kernels.nvcc_check` and
:mod:`~nnbridge.kernels.nvrtc_check` (the sources built for the GPU without one),
:mod:`~nnbridge.kernels.crosscheck` (kernels against the specs, exact and float32 bounds),
:mod:`~nnbridge.kernels.strategies` and :mod:`~nnbridge.kernels.implementation` (any
implementation searched against the specs) and :mod:`~nnbridge.kernels.verify`.

On a GPU machine: ``bash benchmarks/gpu_session.sh run`` (or ``pip install -e .[gpu,test]``,
then ``python -m pytest tests/kernels``, where the cupy tests run instead of skipping, and
``python benchmarks/bench_kernels.py --gpu``).

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> max_pool(x, 2, backend="host")[0, 0].tolist()
[[5.0, 7.0], [13.0, 15.0]]
"""

from .backends import (
    BACKENDS,
    Backend,
    BackendUnavailable,
    available_backends,
    backend_unavailable_reason,
    get_backend,
)
from .convolution import conv, conv_transpose, conv_transpose_vjp, conv_vjp
from .pooling import avg_pool, avg_pool_vjp, max_pool, max_pool_vjp

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailable",
    "available_backends",
    "avg_pool",
    "avg_pool_vjp",
    "backend_unavailable_reason",
    "conv",
    "conv_transpose",
    "conv_transpose_vjp",
    "conv_vjp",
    "get_backend",
    "max_pool",
    "max_pool_vjp",
]
