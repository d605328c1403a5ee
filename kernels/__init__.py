"""GPU kernels: CUDA C sources run by CuPy on a GPU, or compiled for the CPU (host backend).

Batched ``(N, C, *spatial)`` versions of the specs' layers, float32 and float64, 1 to 3
spatial axes, each taking the spec's arguments plus ``backend=`` (``"cupy"``, ``"host"``
or ``None`` for the fastest available). Results are arrays of the backend (CuPy arrays on
``"cupy"``, NumPy arrays on ``"host"``); gradients of parameters are summed over the batch.

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
