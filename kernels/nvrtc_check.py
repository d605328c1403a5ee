"""Compile every kernel source with NVRTC, the compiler the cupy backend uses, without a GPU.

:mod:`nnbridge.kernels.nvcc_check` proves the sources are CUDA; this check proves they are
the CUDA that CuPy will build: NVRTC (no host headers, no host compiler), with the cupy
backend's own :data:`~nnbridge.kernels.cupy_backend.OPTIONS`, a ``-arch=compute_XX`` per
target as CuPy passes it, and every instantiation registered as a *name expression*
(``im2col<float>``, ...) exactly as ``cupy.RawModule(name_expressions=...)`` does. Each
name expression must lower to a mangled name that is an ``.entry`` of the PTX: that is the
name ``RawModule.get_function`` will look up on the GPU. The mangled name also spells the
parameter types as NVRTC compiled them; they must equal the parameter list the launchers
are checked against (:func:`~nnbridge.kernels.backends.kernel_parameters`, read from the
source text), so that the launch-argument check guards the signature the GPU really has.

NVRTC is a shared library (``libnvrtc.so``), found in ``$NNBRIDGE_NVRTC``, in the
``nvidia-cuda-nvrtc`` wheel (a test dependency on Linux x86-64), or in the CUDA toolkit.
It is called through :mod:`ctypes`; no GPU and no driver are needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
from dataclasses import dataclass, field

from .backends import KernelSource, Parameter, all_sources, kernel_parameters

__all__ = [
    "TARGETS",
    "NvrtcResult",
    "demangle_parameters",
    "find_nvrtc",
    "nvrtc_check",
    "nvrtc_version",
]

#: Virtual architectures every source must compile for: Hopper (H100/H200), Ampere (A100).
TARGETS = ("compute_90", "compute_80")

_NVRTC_SUCCESS = 0


@dataclass(frozen=True)
class NvrtcResult:
    """Outcome of compiling one source for one target with NVRTC.

    ``lowered`` maps each name expression to its mangled name; ``missing`` lists the name
    expressions that did not lower or whose mangled name is not a PTX ``.entry``;
    ``mismatched`` the ones whose compiled parameter types differ from the source's
    parameter list as the launchers read it.
    """

    source: str
    target: str
    ok: bool
    lowered: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    log: str = field(default="", repr=False)


def demangle_parameters(mangled: str, kernel: str) -> tuple[str, ...] | None:
    """Parameter types of ``_Z<len><kernel>I<f|d>Ev<params>`` as ``"const T*"``, ``"int"``...

    Just the Itanium grammar the kernels use: ``T_``, ``i``, ``P`` (pointer), ``K`` (const)
    and substitutions ``S_``, ``S<n>_`` (the template name is candidate ``S_``, then each
    ``T_``, ``K...`` and ``P...`` in the order met). None when the name is not of that form.
    """
    match = re.fullmatch(rf"_Z{len(kernel)}{re.escape(kernel)}I[fd]Ev(\w*)", mangled)
    if match is None:
        return None
    text, pos, candidates = match.group(1), 0, [kernel]

    def parse() -> str:
        nonlocal pos
        if text.startswith("T_", pos):
            pos += 2
            candidates.append("T")
            return "T"
        head = text[pos:pos + 1]
        pos += 1
        if head == "i":
            return "int"
        if head in ("P", "K"):
            inner = parse()
            kind = f"{inner}*" if head == "P" else f"const {inner}"
            candidates.append(kind)
            return kind
        if head == "S":
            end = text.index("_", pos)
            index = 0 if end == pos else int(text[pos:end], 36) + 1
            pos = end + 1
            return candidates[index]
        raise ValueError(head)

    parameters = []
    try:
        while pos < len(text):
            parameters.append(parse())
    except (ValueError, IndexError):
        return None
    return tuple(parameters)


def _spelled(p: Parameter) -> str:
    """A parameter as :func:`demangle_parameters` spells it (top-level const dropped)."""
    return f"{'const ' if p.const and p.pointer else ''}{p.code}"


def _candidates() -> list[str]:
    found = []
    env = os.environ.get("NNBRIDGE_NVRTC")
    if env:
        found.append(env)
    try:  # the nvidia-cuda-nvrtc wheels: nvidia/cu13/lib (CUDA 13), nvidia/cuda_nvrtc/lib (12)
        import nvidia

        for root in nvidia.__path__:
            for pattern in ("cu*/lib/libnvrtc.so.*", "cuda_nvrtc/lib/libnvrtc.so.*"):
                found += sorted(p for p in glob.glob(os.path.join(root, pattern))
                                if ".alt." not in p and re.search(r"\.so\.\d+$", p))
    except ImportError:
        pass
    for root in ("/usr/local/cuda/lib64", "/usr/local/cuda/lib"):
        found += sorted(glob.glob(os.path.join(root, "libnvrtc.so*")))
    system = ctypes.util.find_library("nvrtc")
    if system:
        found.append(system)
    return found


_LIBRARY: list = []


def find_nvrtc():
    """The loaded NVRTC library (a :class:`ctypes.CDLL`), or None when none is found."""
    if _LIBRARY:
        return _LIBRARY[0]
    for path in _candidates():
        try:
            # NVRTC dlopens its builtins library by file name: load it from the same folder
            # first (a wheel's folder is on no search path).
            for builtins in sorted(glob.glob(os.path.join(os.path.dirname(path),
                                                          "libnvrtc-builtins.so.*"))):
                if ".alt." not in builtins:
                    ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            lib = ctypes.CDLL(path)
            lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        except (OSError, AttributeError):
            continue
        _LIBRARY.append(lib)
        return lib
    return None


def nvrtc_version() -> tuple[int, int] | None:
    """NVRTC's ``(major, minor)``, or None when no NVRTC is found."""
    lib = find_nvrtc()
    if lib is None:
        return None
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


class _Program:
    """One NVRTC program; every call's status checked, destroyed on exit."""

    def __init__(self, lib, code: str, name: str):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        self._check(lib.nvrtcCreateProgram(ctypes.byref(self.handle), code.encode(),
                                           f"{name}.cu".encode(), 0, None, None),
                    "nvrtcCreateProgram")

    def _check(self, status: int, what: str) -> None:
        if status != _NVRTC_SUCCESS:
            raise RuntimeError(f"{what}: {self.lib.nvrtcGetErrorString(status).decode()}")

    def add_name_expression(self, expression: str) -> None:
        self._check(self.lib.nvrtcAddNameExpression(self.handle, expression.encode()),
                    "nvrtcAddNameExpression")

    def compile(self, options: list[str]) -> tuple[bool, str]:
        array = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        status = self.lib.nvrtcCompileProgram(self.handle, len(options), array)
        size = ctypes.c_size_t()
        self.lib.nvrtcGetProgramLogSize(self.handle, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        self.lib.nvrtcGetProgramLog(self.handle, log)
        text = log.value.decode(errors="replace")
        if status != _NVRTC_SUCCESS:
            return False, f"{self.lib.nvrtcGetErrorString(status).decode()}\n{text}"
        return True, text

    def ptx(self) -> str:
        size = ctypes.c_size_t()
        self._check(self.lib.nvrtcGetPTXSize(self.handle, ctypes.byref(size)), "nvrtcGetPTXSize")
        buffer = ctypes.create_string_buffer(size.value)
        self._check(self.lib.nvrtcGetPTX(self.handle, buffer), "nvrtcGetPTX")
        return buffer.value.decode()

    def lowered_name(self, expression: str) -> str | None:
        name = ctypes.c_char_p()
        status = self.lib.nvrtcGetLoweredName(self.handle, expression.encode(),
                                              ctypes.byref(name))
        return name.value.decode() if status == _NVRTC_SUCCESS and name.value else None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.lib.nvrtcDestroyProgram(ctypes.byref(self.handle))


def nvrtc_check(sources: tuple[KernelSource, ...] | None = None,
                targets: tuple[str, ...] = TARGETS) -> list[NvrtcResult]:
    """Compile each source for each target as the cupy backend would; one result per pair.

    Raises
    ------
    FileNotFoundError
        When no NVRTC library is found.
    """
    from .cupy_backend import OPTIONS, name_expressions

    lib = find_nvrtc()
    if lib is None:
        raise FileNotFoundError(
            "NVRTC not found: install nvidia-cuda-nvrtc or the CUDA toolkit, or set "
            "$NNBRIDGE_NVRTC to libnvrtc.so")
    sources = all_sources() if sources is None else sources
    results = []
    for source in sources:
        expressions = name_expressions(source)
        for target in targets:
            with _Program(lib, source.code, source.name) as program:
                for expression in expressions:
                    program.add_name_expression(expression)
                ok, log = program.compile([*OPTIONS, f"-arch={target}"])
                if not ok:
                    results.append(NvrtcResult(source.name, target, False,
                                               missing=tuple(expressions), log=log))
                    continue
                entries = set(re.findall(r"\.entry\s+([\w$]+)", program.ptx()))
                lowered = {e: program.lowered_name(e) for e in expressions}
                missing = tuple(e for e, name in lowered.items()
                                if name is None or name not in entries)
                mismatched = []
                for e, name in lowered.items():
                    if name is None:
                        continue
                    kernel = e.split("<")[0]
                    expected = tuple(_spelled(p) for p in kernel_parameters(source, kernel))
                    if demangle_parameters(name, kernel) != expected:
                        mismatched.append(e)
                results.append(NvrtcResult(
                    source.name, target, not missing and not mismatched,
                    {e: n for e, n in lowered.items() if n is not None}, missing,
                    tuple(mismatched), log))
    return results
