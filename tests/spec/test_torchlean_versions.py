"""``semantics="lean-2026-07"``: TorchLean's formulas since 852c9c6 and c2be276.

The counts are the ones measured against TorchLean itself on its grid (n 0..12, k 0..6,
s 0..4, p 0..4: 2,275 points): the earlier formulas (``"lean"``) and the current ones
differ on 851 (conv), 1,643 (pool) and 955 (transposed conv) of them.
"""

import itertools

import pytest
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.formulas import SEMANTICS, conv_out, conv_transpose_out, pool_out

GRID = (range(13), range(7), range(5), range(5))


def _value(fn, args, semantics):
    try:
        return fn(*args, semantics=semantics)
    except ShapeError as exc:
        return exc.rule


@pytest.mark.parametrize(("fn", "differ"), [(conv_out, 851), (pool_out, 1643),
                                            (conv_transpose_out, 955)])
def test_the_versions_differ_where_torchlean_did(fn, differ):
    points = list(itertools.product(*GRID))
    assert len(points) == 2275
    found = sum(_value(fn, a, "lean") != _value(fn, a, "lean-2026-07") for a in points)
    assert found == differ


def test_torchlean_test_statements():
    assert conv_transpose_out(1, 3, 1, 1, semantics="lean-2026-07") == 1  # 852c9c6's test
    assert conv_transpose_out(1, 3, 1, 1, semantics="lean") == 3
    assert conv_out(1, 3, 1, 0, semantics="lean-2026-07") == 0  # n + 2p < k
    assert conv_out(1, 3, 0, 1, semantics="lean-2026-07") == 0  # stride 0
    assert pool_out(4, 2, 2, 2, semantics="lean-2026-07") == 0  # p > k/2 (c2be276)
    assert pool_out(4, 2, 2, 1, semantics="lean-2026-07") == 3


def test_the_current_version_is_total_and_takes_no_pytorch_options():
    assert "lean-2026-07" in SEMANTICS
    for fn in (conv_out, pool_out, conv_transpose_out):
        for args in itertools.product(*GRID):
            assert _value(fn, args, "lean-2026-07") >= 0
    with pytest.raises(ShapeError, match="dilation"):
        conv_out(5, 3, 1, 0, 2, semantics="lean-2026-07")
    with pytest.raises(ShapeError, match="ceil_mode"):
        pool_out(5, 2, 2, 0, 1, True, semantics="lean-2026-07")
    with pytest.raises(ShapeError, match="output_padding"):
        conv_transpose_out(5, 3, 2, 0, 1, semantics="lean-2026-07")
