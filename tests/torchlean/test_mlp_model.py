"""The MLP spec model (TorchLean.MLP): forward and hand-written backward against PyTorch,
the tape, and the adjoint identity."""

import numpy as np
import pytest
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.models import MLP
from nnbridge.spec.models.tape import tape_vjp


def test_mlp_forward_and_gradients_agree_with_torch_and_the_tape():
    torch = pytest.importorskip("torch")
    model = MLP(4, 5, 3, seed=2)
    x = np.random.default_rng(1).standard_normal(4)
    g = np.random.default_rng(2).standard_normal(3)
    layers = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(),
                                 torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for value, param in zip(model.params.values(), layers.parameters(), strict=True):
            param.copy_(torch.from_numpy(value))
    t = torch.from_numpy(x).requires_grad_()
    y = layers(t)
    y.backward(torch.from_numpy(g))
    np.testing.assert_allclose(model.forward(x), y.detach().numpy(), rtol=1e-12)
    grads, grad_x = model.vjp(x, g)
    np.testing.assert_allclose(grad_x, t.grad.numpy(), rtol=1e-12)
    for (name, value), (_, param) in zip(grads.items(), layers.named_parameters(), strict=True):
        np.testing.assert_allclose(value, param.grad.numpy(), rtol=1e-12, err_msg=name)
    tape_grads, tape_x = tape_vjp(model, x, g)
    np.testing.assert_allclose(tape_x, grad_x, rtol=1e-12)
    assert list(tape_grads) == list(grads)


def test_mlp_jvp_is_the_adjoint_of_its_vjp():
    model = MLP(2, 3, 1, seed=5)
    rng = np.random.default_rng(4)
    x, dx, g = rng.standard_normal(2), rng.standard_normal(2), rng.standard_normal(1)
    dparams = {k: rng.standard_normal(v.shape) for k, v in model.params.items()}
    grads, grad_x = model.vjp(x, g)
    lhs = float(model.jvp(x, dx, dparams) @ g)
    rhs = float(dx @ grad_x) + sum(float((dparams[k] * grads[k]).sum()) for k in grads)
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("build, rule", [(lambda: MLP(0, 3, 1), "positive_size"),
                                         (lambda: MLP(2, 3, 1).forward(np.ones(3)),
                                          "shape_match")])
def test_mlp_refuses_bad_sizes(build, rule):
    with pytest.raises(ShapeError) as info:
        build()
    assert info.value.rule == rule
