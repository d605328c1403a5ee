"""Your tests, with the ``adjoint`` fixture of nnbridge's pytest plugin: a failed check
fails the test and prints the figures (``pytest examples/adjoint``)."""

import torch
from autograd_functions import GatherRows, LayerNorm, MatMul, Tanh


def test_matmul(adjoint):
    adjoint.check_torch(MatMul.apply, (5, 4), (4, 3))


def test_layer_norm_in_float64(adjoint):
    report = adjoint.check_torch(LayerNorm.apply, (4, 8), (8,), (8,), modes=["float64"])
    assert report.passed


def test_gather_rows_with_repeated_rows(adjoint):
    adjoint.check_torch(GatherRows.apply, (5, 3), torch.tensor([4, 4, 0, 2]))


def test_tanh_runs_under_forward_mode(adjoint):
    report = adjoint.check_torch(Tanh.apply, (3, 4))
    assert report.jvp_source == "forward-mode AD"
