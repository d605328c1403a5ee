"""Every registry entry passes every check that applies to it; the sampler keeps its promises."""

import numpy as np
import pytest

from nnbridge.adjoint import Sampler, check_adjoint, check_jvp, registry
from nnbridge.adjoint.registry import ENTRY_MODULES, Entry, register

ENTRIES = registry()


def test_registry_has_every_layer_family():
    names = {e.name for e in ENTRIES}
    assert "nnbridge.adjoint.entries_ops" in ENTRY_MODULES
    for family in ("conv1d.x", "conv2d.w", "conv3d.wbx", "conv_transpose2d.x", "avg_pool2d",
                   "max_pool3d", "smooth_max_pool2d", "pad2d", "crop3d", "linear.wbx",
                   "batch_norm2d.gbx", "leaky_relu2d", "concat2d.ab"):
        assert family in names


def test_every_op_record_has_its_entries():
    """Generated from the records: one per operand and one joint, for every rank."""
    from nnbridge.spec.ops import ops

    names = {e.name for e in ENTRIES}
    for op in ops():
        for rank in op.ranks:
            base = f"{op.name}{rank}d" if rank else op.name
            expected = ([base] if len(op.operands) == 1 else
                        [f"{base}.{n}" for n in op.operands] + [f"{base}.{op.joint_name}"])
            assert set(expected) <= names, (op.name, expected)


@pytest.mark.parametrize("item", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_passes(item):
    results = [check_adjoint(item, mode) for mode in
               (("exact",) if item.exact else ()) + ("float32", "float64")]
    if item.fd:
        results.append(check_jvp(item))
    failed = [(r.check, r.mode, r.worst_residual, r.tolerance, r.detail)
              for r in results if not r.passed]
    assert not failed


def test_duplicate_names_are_refused():
    first = ENTRIES[0]
    with pytest.raises(ValueError, match="already exists"):
        register(Entry(first.name, lambda s: None))


def test_exact_mode_refuses_inexact_entries():
    smooth = next(e for e in ENTRIES if not e.exact)
    with pytest.raises(ValueError, match="not exact"):
        check_adjoint(smooth, "exact")


@pytest.mark.parametrize("mode", ["exact", "float32", "float64", "fd"])
def test_sampler_draws(mode):
    s = Sampler(mode, 3)
    a = s.array((4, 5))
    assert a.dtype == (np.float32 if mode == "float32" else np.float64)
    u = s.unique((3, 4, 5))
    assert len(np.unique(u)) == u.size
    if mode != "exact":
        gaps = np.diff(np.sort(u.ravel().astype(np.float64)))
        assert gaps.min() >= 0.05 / 2 - 1e-7
    z = s.away_from_zero((50,))
    assert np.abs(z).min() >= (1 if mode == "exact" else 0.1 - 1e-7)
    if mode == "exact":
        for arr in (a, u, z):
            np.testing.assert_array_equal(arr, np.round(arr))
        assert np.abs(a).max() <= 3
