"""The small interface every model's forward is written against, and its array reading.

A model writes its forward once, as ``graph(ex, p, x)``, calling only the methods of
:class:`Executor` on handles: ``p`` maps parameter names to handles and ``x`` is the input's
handle. Two executors read that one text:

* :class:`ArrayExecutor` evaluates it: handles are arrays, each method is the layer spec of
  :mod:`nnbridge.spec.basic`, :mod:`~nnbridge.spec.convolution` or :mod:`~nnbridge.spec.pool`;
* :class:`~nnbridge.spec.models.tape.TapeExecutor` records it on a
  :class:`~nnbridge.spec.tape.Tape`: handles are node ids, and the tape's reverse sweep then
  derives every gradient from the graph.

Arguments follow TorchLean's order, parameters first and the input last
(``conv(w, b, x)``, ``batch_norm(gamma, beta, x)``); static options are keywords.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from .. import basic
from ..convolution import conv, conv_transpose
from ..pool import max_pool

__all__ = ["ARRAYS", "BN_EPS", "ArrayExecutor", "Executor"]

#: TorchLean's batch-norm epsilon (``Spec.batchNorm2d``), passed explicitly by every model.
BN_EPS = 1e-6

H = TypeVar("H")


class Executor(Protocol[H]):
    """The layers a model forward may use; ``H`` is the handle type (array or node id)."""

    def conv(self, w: H, b: H, x: H, *, stride, padding) -> H: ...
    def conv_transpose(self, w: H, b: H, x: H, *, stride, padding) -> H: ...
    def linear(self, w: H, b: H, x: H) -> H: ...
    def batch_norm(self, gamma: H, beta: H, x: H, *, eps: float) -> H: ...
    def relu(self, x: H) -> H: ...
    def max_pool(self, x: H, *, kernel, stride) -> H: ...
    def global_avg_pool(self, x: H) -> H: ...
    def flatten(self, x: H) -> H: ...
    def concat(self, a: H, b: H) -> H: ...
    def shortcut(self, x: H, *, out_channels: int) -> H: ...
    def add(self, a: H, b: H) -> H: ...


class ArrayExecutor:
    """The array reading: every method computes its layer spec on NumPy arrays."""

    def conv(self, w, b, x, *, stride, padding):
        return conv(x, w, b, stride=stride, padding=padding)

    def conv_transpose(self, w, b, x, *, stride, padding):
        return conv_transpose(x, w, b, stride=stride, padding=padding)

    def linear(self, w, b, x):
        return basic.linear(x, w, b)

    def batch_norm(self, gamma, beta, x, *, eps):
        return basic.batch_norm(x, gamma, beta, eps)

    def relu(self, x):
        return basic.relu(x)

    def max_pool(self, x, *, kernel, stride):
        return max_pool(x, kernel, stride=stride, padding=0)

    def global_avg_pool(self, x):
        return basic.global_avg_pool(x)

    def flatten(self, x):
        return basic.flatten(x)

    def concat(self, a, b):
        return basic.concat(a, b)

    def shortcut(self, x, *, out_channels):
        return basic.shortcut(x, out_channels)

    def add(self, a, b):
        return a + b


#: The one array executor (it holds no state).
ARRAYS = ArrayExecutor()
