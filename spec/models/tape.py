"""The models recorded on a :class:`~nnbridge.spec.tape.Tape`: a second derivation of
their gradients.

Every model writes its forward once, as ``graph(ex, p, x)`` over the
:class:`~nnbridge.spec.models.executor.Executor` interface. :class:`TapeExecutor` reads that
same text by recording each layer as a tape node (handles are node ids), so :func:`record`
needs no per-model code; :func:`tape_vjp` then gets every gradient from the tape's reverse
sweep. The models' hand-written ``vjp`` orders the layer backward rules by hand; the tape
orders them by its graph; the tests require both to agree.
"""

from __future__ import annotations

import numpy as np

from .. import tape_basic  # noqa: F401  (registers the basic-op nodes)
from ..checks import cotangent
from ..errors import Rule, ShapeError
from ..tape import Tape
from ._base import Params, SpecModel

__all__ = ["TapeExecutor", "record", "tape_vjp"]


class TapeExecutor:
    """The tape reading of a model's forward: each method records one node, parents in
    TorchLean's order (parameters first, input last), and returns its id."""

    def __init__(self, tape: Tape):
        self.tape = tape

    def conv(self, w, b, x, *, stride, padding):
        return self.tape.apply("conv", w, b, x, stride=stride, padding=padding)

    def conv_transpose(self, w, b, x, *, stride, padding):
        return self.tape.apply("conv_transpose", w, b, x, stride=stride, padding=padding)

    def linear(self, w, b, x):
        return self.tape.apply("linear", w, b, x)

    def batch_norm(self, gamma, beta, x, *, eps):
        return self.tape.apply("batch_norm", gamma, beta, x, eps=eps)

    def relu(self, x):
        return self.tape.apply("relu", x)

    def max_pool(self, x, *, kernel, stride):
        return self.tape.apply("max_pool", x, kernel=kernel, stride=stride, padding=0)

    def global_avg_pool(self, x):
        return self.tape.apply("global_avg_pool", x)

    def flatten(self, x):
        return self.tape.apply("flatten", x)

    def concat(self, a, b):
        return self.tape.apply("concat", a, b)

    def shortcut(self, x, *, out_channels):
        return self.tape.apply("shortcut", x, out_channels=out_channels)

    def add(self, a, b):
        return self.tape.apply("add", a, b)


def record(model: SpecModel, tape: Tape, x: np.ndarray, params=None, *,
           executor: type[TapeExecutor] = TapeExecutor):
    """Record ``model``'s forward at ``x`` on ``tape``, checked as ``model.forward`` checks.

    ``executor`` is the tape reading to use (a subclass plants a wiring defect in tests).

    Returns
    -------
    (param_ids, x_id, out_id) : the leaf ids of the parameters (a :class:`Params` of ids, by
    name) and of ``x``, and the output node's id.
    """
    if not isinstance(model, SpecModel):
        raise ShapeError(Rule.CONFIG_TYPE, op="record", expected="a model spec of "
                         "nnbridge.spec.models", got=type(model).__name__)
    params = model._params(params)
    x = model._input("x", x, params)
    ids = Params({name: tape.leaf(value) for name, value in params.items()})
    x_id = tape.leaf(x)
    out = model.graph(executor(tape), ids, x_id)["y"]
    return ids, x_id, out


def tape_vjp(model: SpecModel, x, grad_y, params=None, *,
             executor: type[TapeExecutor] = TapeExecutor):
    """``(grads, grad_x)`` from the tape's reverse sweep, shaped like ``model.vjp``'s."""
    tape = Tape()
    ids, x_id, out = record(model, tape, x, params, executor=executor)
    y = tape.value(out)
    grad_y = cotangent(type(model).__name__, "grad_y", grad_y, y.shape, y.dtype)
    grads = tape.backward(out, grad_y)

    def grad(i):
        return grads[i] if i in grads else np.zeros_like(tape.value(i))

    return Params({name: grad(i) for name, i in ids.items()}), grad(x_id)
