"""Whether a module runs on a size: ``module(zeros(batch, channels, *shape))``, caught.

:func:`runs_on` runs a ``torch.nn.Module`` once on zeros of one spatial shape, under
``torch.no_grad()``, and reports whether the forward returned, the output's spatial sizes and,
when it raised, the exception's type and first line. The module is left as it was found: the
``training`` flag of every submodule and every buffer (batch-norm running statistics and their
counters) are restored, so a sweep in train mode does not drift. :func:`valid_sizes` runs it over
a range of sizes, on every axis at once or on one axis, and lists the sizes where the output
has the input's size (``output="same"``) or where the forward returns at all (``"any"``).

This is the empirical reading of a network's valid-size rule: it samples, it proves nothing.
torch is imported when these functions run, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nnbridge.spec.errors import Rule, ShapeError, UsageError

__all__ = ["RunResult", "first_in_channels", "runs_on", "valid_sizes"]

MODES = ("eval", "train")
OUTPUTS = ("same", "any")


@dataclass(frozen=True)
class RunResult:
    """One run: the input's spatial ``shape``, whether it ``runs``, the ``output``'s spatial
    sizes (``None`` when it does not run or returns no tensor) and the ``error``
    (``"Type: first line"``, ``None`` when it runs)."""

    shape: tuple
    runs: bool
    output: tuple | None = None
    error: str | None = None

    @property
    def same(self) -> bool:
        """It runs, and the output has the input's spatial sizes."""
        return self.runs and self.output == self.shape


def _usage(detail: str) -> UsageError:
    return UsageError(Rule.DESCRIPTION_VALUE, where="runs_on", detail=detail)


def _size(value, name: str, op: str, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(Rule.INTEGER_SIZE, op=op, name=name, value=value)
    if value < least:
        raise ShapeError(Rule.POSITIVE_SIZE if least == 1 else Rule.NONNEG_SIZE, op=op,
                         name=name, value=value)
    return value


def first_in_channels(module) -> int:
    """``in_channels`` of the first convolution (any rank, transposed or not) in
    ``module.modules()``; a ``UsageError`` when there is none or it is not yet initialised."""
    from torch import nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d,
             nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    for sub in module.modules():
        if isinstance(sub, convs):
            if sub.in_channels < 1:
                raise _usage(f"the first convolution ({type(sub).__name__}) has "
                             f"in_channels={sub.in_channels}: pass channels=")
            return sub.in_channels
    raise _usage(f"{type(module).__name__} has no convolution to read in_channels from: "
                 "pass channels=")


def _error_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _spatial(out) -> tuple | None:
    """The spatial sizes of the output tensor: the output itself, or the first item of a
    tuple, list or dict."""
    import torch

    if isinstance(out, dict):
        out = next(iter(out.values()), None)
    elif isinstance(out, (tuple, list)):
        out = out[0] if out else None
    if isinstance(out, torch.Tensor) and out.dim() >= 2:
        return tuple(int(n) for n in out.shape[2:])
    return None


def runs_on(module, shape, *, mode: str = "eval", batch: int = 1,
            channels: int | None = None) -> RunResult:
    """Run ``module`` on ``torch.zeros(batch, channels, *shape)``; whatever it raises is caught.

    Parameters
    ----------
    module : torch.nn.Module
    shape : sequence of int
        The spatial sizes, each at least 1.
    mode : {"eval", "train"}
        The mode the module runs in; every submodule's own flag is restored afterwards.
    batch : int
        The batch size. In train mode a batch norm that sees one value per channel raises.
    channels : int, optional
        The input channels; by default the first convolution's ``in_channels``.

    Returns
    -------
    RunResult
        ``runs`` is false when the forward raised any ``Exception``; ``error`` then holds its
        type and first line. Buffers (running statistics) are restored after the run.
    """
    import torch

    if mode not in MODES:
        raise _usage(f"mode must be one of {MODES}, got {mode!r}")
    shape = tuple(_size(n, f"shape[{i}]", "runs_on") for i, n in enumerate(shape))
    batch = _size(batch, "batch", "runs_on")
    channels = (first_in_channels(module) if channels is None
                else _size(channels, "channels", "runs_on"))

    flags = [(sub, sub.training) for sub in module.modules()]
    buffers = [(sub, name, buf, buf.clone())
               for sub in module.modules() for name, buf in sub.named_buffers(recurse=False)]
    x = torch.zeros(batch, channels, *shape)
    try:
        module.train(mode == "train")
        with torch.no_grad():
            out = module(x)
    except Exception as exc:  # any failure of the forward means "does not run"
        return RunResult(shape=shape, runs=False, error=_error_text(exc))
    finally:
        for sub, training in flags:
            sub.training = training
        with torch.no_grad():
            for sub, name, buf, saved in buffers:
                if getattr(sub, name, None) is not buf:
                    setattr(sub, name, buf)
                buf.copy_(saved)
    return RunResult(shape=shape, runs=True, output=_spatial(out))


def valid_sizes(module, spatial_dims: int, sizes: Iterable[int] = range(1, 129), *,
                axis: int | None = None, others: tuple | None = None, output: str = "same",
                mode: str = "eval", batch: int = 1, channels: int | None = None) -> list[int]:
    """The sizes ``n`` in ``sizes`` on which ``module`` runs: ``[n for n in sizes if valid(n)]``.

    With ``axis=None`` every spatial axis has size ``n`` (square, cubic); otherwise only
    ``axis`` takes ``n`` and the other axes keep their entries of ``others`` (one per axis, the
    varied axis' entry ignored). ``valid`` is :attr:`RunResult.same` for ``output="same"`` and
    :attr:`RunResult.runs` for ``output="any"``. ``mode``, ``batch`` and ``channels`` are
    passed to :func:`runs_on` (``channels`` read once from the first convolution by default).
    """
    spatial_dims = _size(spatial_dims, "spatial_dims", "valid_sizes")
    if output not in OUTPUTS:
        raise _usage(f"output must be one of {OUTPUTS}, got {output!r}")
    if axis is None:
        if others is not None:
            raise _usage("others is only read when an axis is given")
        base = None
    else:
        if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < spatial_dims:
            raise _usage(f"axis must be an integer in [0, {spatial_dims}), got {axis!r}")
        if others is None or len(others) != spatial_dims:
            raise _usage(f"others must give {spatial_dims} sizes (one per axis), got {others!r}")
        base = [_size(n, f"others[{i}]", "valid_sizes") if i != axis else 1
                for i, n in enumerate(others)]
    channels = (first_in_channels(module) if channels is None
                else _size(channels, "channels", "valid_sizes"))
    found = []
    for n in sizes:
        n = _size(n, "size", "valid_sizes")
        if base is None:
            shape = (n,) * spatial_dims
        else:
            shape = tuple(n if i == axis else m for i, m in enumerate(base))
        result = runs_on(module, shape, mode=mode, batch=batch, channels=channels)
        if result.same if output == "same" else result.runs:
            found.append(n)
    return found
