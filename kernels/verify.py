"""The kernels' step of ``nnbridge verify``: backends, nvcc and NVRTC builds, cross-checks.

Prints one table per part and returns True when every check that ran holds. A part that
cannot run here (no nvcc, no GPU) is reported as not run, with the reason; it is never
reported as passed.
"""

from __future__ import annotations

import math

import numpy as np

from .backends import BACKENDS, Backend, backend_unavailable_reason, get_backend
from .crosscheck import Comparison, conv_checks, pool_checks

__all__ = ["CASES", "crosscheck_backend", "verify_kernels"]

#: Fixed cross-check configurations: (rank, spatial, kernel, stride, padding).
CASES = (
    (1, (9,), (3,), (2,), (1,)),
    (2, (7, 6), (3, 2), (2, 1), (1, 0)),
    (3, (5, 4, 5), (3, 2, 3), (1, 2, 2), (1, 1, 0)),
)


def _draw(rng, mode, shape, scale=1):
    if mode == "exact":
        return (scale * rng.integers(-8, 9, size=shape)).astype(np.float64)
    return rng.standard_normal(shape).astype(np.float32)


def crosscheck_backend(backend: str | Backend, seed: int = 0) -> list[Comparison]:
    """Every kernel against the spec on :data:`CASES`, exact and float modes."""
    from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

    be = get_backend(backend)
    rng = np.random.default_rng(seed)
    results: list[Comparison] = []
    for mode in ("exact", "float"):
        for _, size, k, s, p in CASES:
            x = _draw(rng, mode, (2, 3, *size))
            b = _draw(rng, mode, (4,))
            w = _draw(rng, mode, (4, 3, *k))
            g = _draw(rng, mode, (2, 4, *conv_out(size, k, s, p, semantics="torch")))
            results += conv_checks(x, w, b, g, s, p, mode, backend=be)
            wt = _draw(rng, mode, (3, 4, *k))
            gt = _draw(rng, mode, (2, 4, *conv_transpose_out(size, k, s, p,
                                                            semantics="torch")))
            results += conv_checks(x, wt, b, gt, s, p, mode, transpose=True, backend=be)
            pp = tuple(min(pi, ki // 2) for pi, ki in zip(p, k, strict=True))
            out = pool_out(size, k, s, pp, semantics="torch")
            unique = (rng.permutation(x.size).reshape(x.shape) - x.size // 2).astype(x.dtype)
            results += pool_checks("max", unique, _draw(rng, mode, (2, 3, *out)), k, s, pp,
                                   mode, backend=be)
            results += pool_checks("avg", x, _draw(rng, mode, (2, 3, *out), math.prod(k)), k,
                                   s, pp, mode, backend=be)
    return results


def verify_kernels(backends=None, *, nvcc: bool = True, nvrtc: bool = True) -> bool:
    """Run the kernel checks, print their figures, return True when all that ran hold."""
    from rich.table import Table

    from nnbridge.report import console, verdict_style

    out = console()
    ok = True
    table = Table(title="kernel backends")
    table.add_column("backend")
    table.add_column("status")
    for name in BACKENDS:
        reason = backend_unavailable_reason(name)
        table.add_row(name, "available" if reason is None else f"not run: {reason}")
    out.print(table)
    if nvcc:
        from .nvcc_check import find_nvcc, nvcc_check

        if find_nvcc() is None:
            out.print("nvcc compile check: not run (nvcc absent)")
        else:
            table = Table(title="nvcc --ptx compile check")
            for column in ("source", "target", "entries", "verdict"):
                table.add_column(column)
            for r in nvcc_check():
                ok &= r.ok
                table.add_row(r.source, r.target, str(len(r.entries)),
                              f"[{verdict_style(r.ok)}]{'PASS' if r.ok else 'FAIL'}[/]")
            out.print(table)
    if nvrtc:
        from .nvrtc_check import find_nvrtc, nvrtc_check, nvrtc_version

        if find_nvrtc() is None:
            out.print("NVRTC build check: not run (no libnvrtc: install nvidia-cuda-nvrtc)")
        else:
            major, minor = nvrtc_version()
            table = Table(title=f"NVRTC {major}.{minor} build, as the cupy backend builds it")
            for column in ("source", "target", "name expressions", "signatures", "verdict"):
                table.add_column(column)
            for r in nvrtc_check():
                ok &= r.ok
                lowered = len(r.lowered) - len(r.missing)
                table.add_row(r.source, r.target, f"{lowered} lowered, {len(r.missing)} missing",
                              f"{len(r.lowered) - len(r.mismatched)} match, "
                              f"{len(r.mismatched)} differ",
                              f"[{verdict_style(r.ok)}]{'PASS' if r.ok else 'FAIL'}[/]")
            out.print(table)
    if backends is None:
        backends = [n for n in BACKENDS if backend_unavailable_reason(n) is None]
    for backend in backends:
        be = get_backend(backend)
        results = crosscheck_backend(be)
        table = Table(title=f"kernels vs spec on backend {be.name!r}")
        for column in ("output", "mode", "checks", "max |kernel - spec|", "worst error/tol",
                       "verdict"):
            table.add_column(column)
        groups: dict[tuple[str, str], list[Comparison]] = {}
        for r in results:
            groups.setdefault((r.name, r.mode), []).append(r)
        for (name, mode), rs in groups.items():
            passed = all(r.passed for r in rs)
            ok &= passed
            table.add_row(name, mode, str(len(rs)), f"{max(r.max_error for r in rs):.3g}",
                          f"{max(r.worst_ratio for r in rs):.3g}",
                          f"[{verdict_style(passed)}]{'PASS' if passed else 'FAIL'}[/]")
        out.print(table)
    return ok
