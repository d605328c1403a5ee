"""The cupy backend's Python, run against a stand-in for the part of CuPy's API it uses.

Not a GPU test (those run where CuPy and a GPU are present, in the other kernel tests):
this exercises, on every machine, what the cupy backend does around the GPU. It builds one
``RawModule`` per source with the NVRTC options and the ``kernel<float>`` name expressions,
looks functions up by name expression, and launches them as ``function((grid,), (block,),
args)`` with sizes as ``numpy.int32``. The stand-in holds it to CuPy's contract (a
function only by a registered name expression; a tuple grid and block; no Python ``int``
arguments, which CuPy would pass as 64-bit), and runs each launch with the grid and block
it was given, through the host build of the same source. Every kernel then goes through
the same cross-checks against the spec.
"""

import ctypes
import sys
import types

import numpy as np
import pytest
from nnbridge.kernels import backends
from nnbridge.kernels.backends import CTYPES, backend_unavailable_reason
from nnbridge.kernels.cupy_backend import OPTIONS, CupyBackend
from nnbridge.kernels.implementation import run_config
from nnbridge.kernels.strategies import LayerConfig
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

pytestmark = pytest.mark.skipif(backend_unavailable_reason("host") is not None,
                                reason="host backend unavailable (no C++ compiler)")


class StandInCupy(types.ModuleType):
    """``import cupy`` for the cupy backend: NumPy arrays, kernels through the host build."""

    def __init__(self, host, devices=1):
        super().__init__("cupy")
        self.__version__ = "stand-in"
        self.host = host
        self.launches = []
        self.modules = []
        runtime = types.SimpleNamespace(
            getDeviceCount=lambda: devices, getDevice=lambda: 0,
            getDeviceProperties=lambda device: {"multiProcessorCount": 2})
        self.cuda = types.SimpleNamespace(runtime=runtime)
        self.asnumpy = np.asarray

    def __getattr__(self, name):  # the array API: NumPy's
        return getattr(np, name)

    def RawModule(self, *, code, options=(), name_expressions=None):  # noqa: N802
        module = StandInModule(self, code, tuple(options), tuple(name_expressions or ()))
        self.modules.append(module)
        return module


class StandInModule:
    def __init__(self, cupy, code, options, name_expressions):
        known = {s.code: s for s in cupy.host.sources}
        assert code in known, "RawModule code is not one of the package's sources"
        self.cupy, self.source, self.options = cupy, known[code], options
        self.name_expressions = name_expressions

    def get_function(self, name):
        if name not in self.name_expressions:  # CuPy: only registered name expressions
            raise KeyError(f"{name!r} was not registered as a name expression")
        kernel, ctype = name[:-1].split("<")
        return StandInFunction(self.cupy, kernel, ctype)


class StandInFunction:
    def __init__(self, cupy, kernel, ctype):
        self.cupy, self.kernel, self.ctype = cupy, kernel, ctype

    def __call__(self, grid, block, args):
        assert isinstance(grid, tuple) and isinstance(block, tuple), "grid/block as tuples"
        assert all(isinstance(v, int) and v > 0 for v in grid + block)
        values = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous
                values.append(ctypes.c_void_p(a.ctypes.data))
            else:
                assert isinstance(a, np.int32), f"CuPy would pass {type(a).__name__} as 64-bit"
                values.append(ctypes.c_int(int(a)))
        self.cupy.launches.append((self.kernel, self.ctype, grid, block))
        dims = (ctypes.c_uint * 6)(*(grid + (1,) * (3 - len(grid))),
                                   *(block + (1,) * (3 - len(block))))
        params = (ctypes.c_void_p * len(values))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        self.cupy.host._function(self.kernel, self.ctype)(dims, params)


@pytest.fixture
def stand_in(monkeypatch):
    host = backends.get_backend("host")
    cupy = StandInCupy(host)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy


def test_modules_are_built_as_cupy_builds_them(stand_in):
    be = CupyBackend()
    assert be.xp is stand_in
    assert {m.source.name for m in stand_in.modules} == {s.name for s in be.sources}
    for module in stand_in.modules:
        assert module.options == OPTIONS
        assert set(module.name_expressions) == {
            f"{k}<{c}>" for k in module.source.kernels for c in ("float", "double")}


def _config(op, n, c_in, c_out, kernel, stride, padding, size, seed):
    if op == "conv":
        out = conv_out(size, kernel, stride, padding, semantics="torch")
    elif op == "conv_transpose":
        out = conv_transpose_out(size, kernel, stride, padding, semantics="torch")
    else:
        out = pool_out(size, kernel, stride, padding, semantics="torch", op=op[:3])
    return LayerConfig(op, n, c_in, c_out, kernel, stride, padding, size, out, seed)


CONFIGS = [
    _config("conv", 2, 3, 2, (3, 2), (2, 1), (1, 0), (7, 5), 11),
    _config("conv_transpose", 2, 3, 2, (3,), (2,), (1,), (4,), 12),
    _config("max_pool", 2, 3, 3, (2, 2, 2), (2, 1, 2), (1, 0, 1), (4, 3, 5), 13),
    _config("avg_pool", 2, 3, 3, (3, 2), (2, 2), (1, 1), (6, 5), 14),
]


@pytest.mark.parametrize("mode", ["exact", "float"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.op)
def test_every_kernel_through_the_cupy_backend_matches_the_spec(stand_in, config, mode):
    be = CupyBackend()
    results = run_config(config.op, config, mode, backend=be)
    failed = [r for r in results if not r.passed]
    assert results and not failed, failed
    ctype = CTYPES[np.dtype(np.float64 if mode == "exact" else np.float32)]
    assert stand_in.launches and all(c == ctype for _, c, _, _ in stand_in.launches)


def test_no_device_is_unavailable_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", StandInCupy(backends.get_backend("host"), 0))
    from nnbridge.kernels import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="no GPU is present"):
        CupyBackend()


def test_a_python_int_argument_would_be_refused(stand_in):
    """The stand-in enforces what CuPy does with Python ints; the backend converts them."""
    be = CupyBackend()
    function = be._module_for("im2col").get_function("im2col<float>")
    x = np.zeros((1, 1, 1, 1, 1), np.float32)
    with pytest.raises(AssertionError, match="64-bit"):
        function((1,), (1,), (x, x, 1, 1, *[1] * 15))


def test_planted_missing_name_expression_is_caught(stand_in, monkeypatch):
    """A backend that registered only the float instantiations fails at the first double
    launch, as CuPy would."""
    from nnbridge.kernels import cupy_backend

    monkeypatch.setattr(cupy_backend, "name_expressions",
                        lambda source: [f"{k}<float>" for k in source.kernels])
    be = CupyBackend()
    with pytest.raises(KeyError, match="not registered as a name expression"):
        run_config("avg_pool", CONFIGS[3], "exact", backend=be)
    assert run_config("avg_pool", CONFIGS[3], "float", backend=be)
