"""The int reading of every shape formula against real PyTorch output shapes.

For each configuration of a grid, PyTorch either returns a tensor, whose spatial size must
equal ``semantics="torch"``, or raises, in which case the formula must raise ShapeError.
"""

from __future__ import annotations

import itertools
import warnings

import pytest

torch = pytest.importorskip("torch", reason="torch (CPU build) is a test dependency")
F = torch.nn.functional

from nnbridge.spec.domains import (  # noqa: E402
    conv_agreement,
    conv_transpose_agreement,
    pool_agreement,
)
from nnbridge.spec.shapes import ShapeError, conv_out, conv_transpose_out, pool_out  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)


def _torch_size(fn, n, rank=1):
    x = torch.zeros((1, 1) + (n,) * rank)
    try:
        return tuple(fn(x).shape[2:])
    except RuntimeError:
        return None


def _ours(fn):
    try:
        return fn()
    except ShapeError:
        return None


def _compare(grid, torch_fn, ours_fn, rank=1):
    mismatches = []
    for cfg in grid:
        want = _torch_size(lambda x, cfg=cfg: torch_fn(x, *cfg), cfg[0], rank)
        got = _ours(lambda cfg=cfg: ours_fn(*cfg))
        got = None if got is None else (got if isinstance(got, tuple) else (got,) * rank)
        if want != got:
            mismatches.append((cfg, want, got))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
    return len(grid)


SIZES = range(0, 10)


def test_conv_out_matches_torch():
    grid = list(itertools.product(SIZES, range(1, 5), range(1, 4), range(0, 3), range(1, 3)))
    count = _compare(
        grid,
        lambda x, n, k, s, p, d: F.conv1d(x, torch.zeros(1, 1, k), stride=s, padding=p,
                                          dilation=d),
        lambda n, k, s, p, d: conv_out(n, k, s, p, d, semantics="torch"))
    assert count == 720


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_max_pool_out_matches_torch(rank):
    pool = getattr(F, f"max_pool{rank}d")
    sizes = SIZES if rank < 3 else range(0, 7)
    grid = list(itertools.product(sizes, range(1, 4), range(1, 4), range(0, 3), range(1, 3),
                                  (False, True)))
    _compare(grid,
             lambda x, n, k, s, p, d, c: pool(x, k, s, p, dilation=d, ceil_mode=c),
             lambda n, k, s, p, d, c: pool_out((n,) * rank, k, s, p, d, c, semantics="torch"),
             rank)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_avg_pool_out_matches_torch(rank):
    pool = getattr(F, f"avg_pool{rank}d")
    sizes = SIZES if rank < 3 else range(0, 7)
    grid = list(itertools.product(sizes, range(1, 5), range(1, 4), range(0, 3), (False, True)))
    _compare(grid,
             lambda x, n, k, s, p, c: pool(x, k, s, p, ceil_mode=c),
             lambda n, k, s, p, c: pool_out((n,) * rank, k, s, p, 1, c, semantics="torch",
                                            op="avg"),
             rank)


def test_conv_transpose_out_matches_torch():
    grid = list(itertools.product(SIZES, range(1, 4), range(1, 4), range(0, 3), range(0, 3),
                                  range(1, 3)))
    _compare(grid,
             lambda x, n, k, s, p, op, d: F.conv_transpose1d(
                 x, torch.zeros(1, 1, k), stride=s, padding=p, output_padding=op, dilation=d),
             lambda n, k, s, p, op, d: conv_transpose_out(n, k, s, p, op, d, semantics="torch"))


def test_zero_stride_raises_like_torch():
    x = torch.zeros(1, 1, 5)
    with pytest.raises(RuntimeError):
        F.conv1d(x, torch.zeros(1, 1, 3), stride=0)
    with pytest.raises(ShapeError, match="stride"):
        conv_out(5, 3, 0, semantics="torch")
    assert conv_out(5, 3, 0) == 1  # Lean: x / 0 = 0


@pytest.mark.parametrize("domain, lean, torch_fn", [
    (conv_agreement, conv_out,
     lambda x, k, s, p: F.conv1d(x, torch.zeros(1, 1, k), stride=s, padding=p)),
    (pool_agreement, pool_out, lambda x, k, s, p: F.max_pool1d(x, k, s, p)),
    (conv_transpose_agreement, conv_transpose_out,
     lambda x, k, s, p: F.conv_transpose1d(x, torch.zeros(1, 1, k), stride=s, padding=p)),
], ids=["conv", "pool", "conv_transpose"])
def test_proved_domains_against_real_torch(domain, lean, torch_fn):
    """The samplers' domains (spec.domains): inside, real PyTorch runs and its size is
    Lean's; outside, PyTorch raises or gives another size."""
    grid = list(itertools.product(range(1, 10), range(1, 6), range(1, 4), range(0, 4)))
    wrong = []
    for n, k, s, p in grid:
        got = _torch_size(lambda x, k=k, s=s, p=p: torch_fn(x, k, s, p), n)
        agree = got == (lean(n, k, s, p),)
        if domain(n, k, s, p) != agree:
            wrong.append(((n, k, s, p), got, lean(n, k, s, p)))
    assert not wrong, f"{len(wrong)} of {len(grid)} disagree, first: {wrong[:5]}"
    assert 0 < sum(domain(*point) for point in grid) < len(grid)
