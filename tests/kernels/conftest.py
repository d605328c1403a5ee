"""Kernel tests run on every backend; an unavailable one skips, saying why."""

import pytest
from nnbridge.kernels import BACKENDS, backend_unavailable_reason


@pytest.fixture(params=BACKENDS, scope="session")
def backend(request):
    """Each kernel backend's name; skips with the reason when it cannot run here."""
    reason = backend_unavailable_reason(request.param)
    if reason is not None:
        pytest.skip(f"kernel backend {request.param!r} unavailable (no GPU/CuPy or no "
                    f"compiler here): {reason}")
    return request.param
