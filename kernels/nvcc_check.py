"""Compile every kernel source with CUDA's compiler for the GPU targets, without a GPU.

The host backend runs the sources through a C++ compiler; this check makes sure the same
text is also valid CUDA (a source only g++ accepts must fail here, in CI, not on the first
GPU it meets). Each source is compiled to PTX by ``nvcc --ptx -arch=<target>`` with every
template instantiation the launchers use forced (a table of their addresses), and the PTX
must contain one ``.entry`` per instantiation.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .backends import KernelSource, all_sources

__all__ = ["TARGETS", "NvccResult", "find_nvcc", "nvcc_check", "nvcc_translation_unit"]

#: GPU targets every source must compile for: Hopper (H100/H200) and Ampere (A100).
TARGETS = ("sm_90", "sm_80")


@dataclass(frozen=True)
class NvccResult:
    """Outcome of compiling one source for one target."""

    source: str
    target: str
    ok: bool
    entries: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    log: str = field(default="", repr=False)


def find_nvcc() -> str | None:
    """``$NVCC``, else ``nvcc`` on the PATH, else ``/usr/local/cuda/bin/nvcc``; or None."""
    for candidate in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def nvcc_translation_unit(source: KernelSource) -> str:
    """The source verbatim, then a host table of every instantiation's address."""
    table = ",\n  ".join(f"(const void*)&{k}<{t}>" for k in source.kernels
                         for t in ("float", "double"))
    return (f"{source.code}\n// every instantiation the launchers use\n"
            f"const void* nnbridge_{source.name}_kernels[] = {{\n  {table}\n}};\n")


def _mangled(kernel: str, code: str) -> str:
    return f"{len(kernel)}{kernel}I{code}E"


def nvcc_check(sources: tuple[KernelSource, ...] | None = None,
               targets: tuple[str, ...] = TARGETS, nvcc: str | None = None) -> list[NvccResult]:
    """Compile each source for each target; one :class:`NvccResult` per pair.

    Raises
    ------
    FileNotFoundError
        When no nvcc is found.
    """
    sources = all_sources() if sources is None else sources
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise FileNotFoundError("nvcc not found (set $NVCC or put nvcc on the PATH)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            unit = Path(tmp) / f"{source.name}.cu"
            unit.write_text(nvcc_translation_unit(source))
            for target in targets:
                ptx = Path(tmp) / f"{source.name}.{target}.ptx"
                run = subprocess.run(
                    [nvcc, "--ptx", f"-arch={target}", "-std=c++17", "-Werror",
                     "all-warnings", str(unit), "-o", str(ptx)],
                    capture_output=True, text=True)
                if run.returncode != 0:
                    results.append(NvccResult(source.name, target, False,
                                              log=run.stdout + run.stderr))
                    continue
                entries = tuple(re.findall(r"\.entry\s+([\w$]+)", ptx.read_text()))
                missing = tuple(
                    f"{k}<{t}>" for k in source.kernels for t, code in
                    (("float", "f"), ("double", "d"))
                    if not any(_mangled(k, code) in e for e in entries))
                results.append(NvccResult(source.name, target, not missing, entries, missing,
                                          run.stderr))
    return results
