"""Norms with vjp and jvp: TorchLean's per-image batch norm and PyTorch's norms.

* :func:`batch_norm` (TorchLean's ResNet BN) normalises each channel over the spatial grid of
  ONE image (training mode, batch of one) with the biased variance and ``eps = 1e-6``; there
  are no running statistics.
* PyTorch's, with ``torch.nn.functional``'s names and meanings and ``eps = 1e-5``:
  :func:`batch_norm_train` (statistics over the batch and the grid, biased variance;
  :func:`batch_norm_running_stats` gives the momentum update of the running statistics, with
  the unbiased variance as PyTorch does), :func:`batch_norm_eval` (running statistics),
  :func:`layer_norm` (over trailing axes) and :func:`group_norm` (over channel groups of one
  sample). Their inputs are ``(N, C, *S)`` as in PyTorch (layer norm: any leading axes).

Every one is ``y = weight * x_hat + bias`` with ``x_hat = (x - mu) / sqrt(var + eps)`` over
its own axes, so one rule serves all the backwards: over those axes,
``grad_x = inv_std * (h - mean(h) - x_hat * mean(h * x_hat))`` with ``h = weight * grad_y``.
"""

from __future__ import annotations

import numpy as np

from .checks import as_float_array, cotangent, integer, number, same_dtype, tangent
from .errors import Rule, ShapeError
from .ops import Geometry, Op, declare

__all__ = [
    "batch_norm",
    "batch_norm_eval",
    "batch_norm_eval_jvp",
    "batch_norm_eval_vjp",
    "batch_norm_jvp",
    "batch_norm_running_stats",
    "batch_norm_train",
    "batch_norm_train_jvp",
    "batch_norm_train_vjp",
    "batch_norm_vjp",
    "group_norm",
    "group_norm_jvp",
    "group_norm_vjp",
    "layer_norm",
    "layer_norm_jvp",
    "layer_norm_vjp",
]

EPS = 1e-6


def _bn_args(op: str, x, gamma, beta, eps):
    x = as_float_array(op, "x", x)
    if x.ndim < 2 or any(n == 0 for n in x.shape[1:]):
        raise ShapeError(
            f"{op}: x must be (C, spatial...) with at least one spatial axis and every "
            f"spatial size positive, got shape {x.shape}", rule="rank")
    gamma = as_float_array(op, "gamma", gamma, ndim=1)
    beta = as_float_array(op, "beta", beta, ndim=1)
    same_dtype(op, x=x, gamma=gamma, beta=beta)
    if gamma.shape != x.shape[:1] or beta.shape != x.shape[:1]:
        raise ShapeError(
            f"{op}: gamma and beta must have shape ({x.shape[0]},) (one per channel of x "
            f"{x.shape}), got gamma {gamma.shape}, beta {beta.shape}", rule="shape_match")
    number(op, "eps", eps, positive=True)
    return x, gamma, beta


def _per_channel(v, ndim):
    return v.reshape((-1,) + (1,) * (ndim - 1))


def _normalise(x, eps):
    """``(x_hat, inv_std)`` with ``x_hat = (x - mean) * inv_std``, per channel."""
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))
    return (x - mean) * inv_std, inv_std


def batch_norm(x, gamma, beta, eps=EPS):
    """``y[c, s] = gamma[c] * (x[c, s] - mu[c]) / sqrt(var[c] + eps) + beta[c]``.

    ``mu[c]`` and ``var[c]`` are the mean and the biased variance of ``x[c]`` over the
    spatial grid ``S`` of one image.

    Parameters
    ----------
    x : ndarray, shape (C, *spatial)
    gamma, beta : ndarray, shape (C,)
    eps : float, default 1e-6

    Returns
    -------
    y : ndarray, shape of ``x``
    """
    x, gamma, beta = _bn_args("batch_norm", x, gamma, beta, eps)
    x_hat, _ = _normalise(x, eps)
    return _per_channel(gamma, x.ndim) * x_hat + _per_channel(beta, x.ndim)


def batch_norm_vjp(x, gamma, beta, grad_y, eps=EPS):
    """``grad_x = gamma * inv_std * (g - mean(g) - x_hat * mean(g * x_hat))``, ``g = grad_y``.

    Also ``grad_gamma[c] = sum_s g[c, s] x_hat[c, s]`` and ``grad_beta[c] = sum_s g[c, s]``.

    Returns
    -------
    (grad_gamma, grad_beta, grad_x) : tuple of ndarray

    Notes
    -----
    ``mean(g)`` is the mean term: the derivative through ``mu``. ``x_hat * mean(g * x_hat)``
    is the derivative through ``var``. The adjoint checks of :mod:`nnbridge.adjoint` catch a
    backward that drops either.
    """
    x, gamma, beta = _bn_args("batch_norm_vjp", x, gamma, beta, eps)
    g = cotangent("batch_norm_vjp", "grad_y", grad_y, x.shape, x.dtype)
    axes = tuple(range(1, x.ndim))
    x_hat, inv_std = _normalise(x, eps)
    grad_gamma = (g * x_hat).sum(axis=axes)
    grad_beta = g.sum(axis=axes)
    g_mean = g.mean(axis=axes, keepdims=True)
    gx_mean = (g * x_hat).mean(axis=axes, keepdims=True)
    grad_x = _per_channel(gamma, x.ndim) * inv_std * (g - g_mean - x_hat * gx_mean)
    return grad_gamma, grad_beta, grad_x


def batch_norm_jvp(x, gamma, beta, dx, dgamma, dbeta, eps=EPS):
    """``dy = gamma * dx_hat + dgamma * x_hat + dbeta``.

    With ``dx_hat = inv_std * (dx - mean(dx) - x_hat * mean(dx * x_hat))``, the derivative of
    ``x_hat`` along ``dx`` (through the centring and through the variance).
    """
    x, gamma, beta = _bn_args("batch_norm_jvp", x, gamma, beta, eps)
    dx = tangent("batch_norm_jvp", "dx", dx, x)
    dgamma = tangent("batch_norm_jvp", "dgamma", dgamma, gamma)
    dbeta = tangent("batch_norm_jvp", "dbeta", dbeta, beta)
    axes = tuple(range(1, x.ndim))
    x_hat, inv_std = _normalise(x, eps)
    dx_hat = inv_std * (dx - dx.mean(axis=axes, keepdims=True)
                        - x_hat * (dx * x_hat).mean(axis=axes, keepdims=True))
    return (_per_channel(gamma, x.ndim) * dx_hat + _per_channel(dgamma, x.ndim) * x_hat
            + _per_channel(dbeta, x.ndim))


# --------------------------------------------------------------------------------------
# PyTorch's norms: batch norm over the batch (training and eval), layer norm, group norm
# --------------------------------------------------------------------------------------
TORCH_EPS = 1e-5


def _moments(x: np.ndarray, axes: tuple[int, ...], eps: float):
    """``(x_hat, inv_std)`` over ``axes``: ``x_hat = (x - mean) / sqrt(var + eps)``, ``var``
    the biased variance."""
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))
    return (x - mean) * inv_std, inv_std


def _x_hat_vjp(g_hat, x_hat, inv_std, axes):
    """``inv_std * (g - mean(g) - x_hat * mean(g * x_hat))``: the VJP (and, being symmetric,
    the JVP) of ``x -> x_hat`` over ``axes``."""
    return inv_std * (g_hat - g_hat.mean(axis=axes, keepdims=True)
                      - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))


def _param(op: str, name: str, value, shape, dtype):
    """An affine parameter of exactly ``shape`` and ``dtype``, or ``None`` (PyTorch's none)."""
    if value is None:
        return None
    value = as_float_array(op, name, value)
    if value.shape != tuple(shape):
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name=name, expected=tuple(shape),
                         got=value.shape)
    same_dtype(op, x=np.empty(0, dtype), **{name: value})
    return value


def _param_tangent(op, name, value, param):
    if param is None:
        if value is not None:
            raise ShapeError(Rule.SHAPE_MATCH, op=op, name=name, expected="None (no parameter)",
                             got=getattr(value, "shape", value))
        return None
    return tangent(op, name, value, param)


def _affine(x_hat, w, b, view):
    y = x_hat if w is None else x_hat * w.reshape(view)
    return y if b is None else y + b.reshape(view)


def _channels_first(op: str, x, weight, bias):
    x = as_float_array(op, "x", x, min_ndim=2)
    if x.shape[1] == 0:
        raise ShapeError(Rule.POSITIVE_SIZE, op=op, name="channels (x.shape[1])", value=0)
    weight = _param(op, "weight", weight, x.shape[1:2], x.dtype)
    bias = _param(op, "bias", bias, x.shape[1:2], x.dtype)
    return x, weight, bias


def _bn_axes(op: str, x) -> tuple[int, ...]:
    axes = (0, *range(2, x.ndim))
    per_channel = x.size // x.shape[1] if x.size else 0
    if per_channel < 2:
        raise ShapeError(
            f"{op}: expected more than 1 value per channel when training (PyTorch's rule), got "
            f"input of shape {x.shape}", rule=Rule.POSITIVE_SIZE)
    return axes


def _channel_view(x) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.ndim - 2)


def batch_norm_train(x, weight=None, bias=None, eps=TORCH_EPS):
    """``y[n, c, s] = weight[c] * (x[n, c, s] - mu[c]) / sqrt(var[c] + eps) + bias[c]``.

    PyTorch's ``F.batch_norm(x, None, None, weight, bias, training=True, eps=eps)``: ``mu[c]``
    and ``var[c]`` are the mean and the biased variance of channel ``c`` over the batch and
    the spatial grid. ``x`` is ``(N, C, *S)`` (the batch axis is what is normalised over);
    at least two values per channel. The running statistics' update is
    :func:`batch_norm_running_stats`.
    """
    x, weight, bias = _channels_first("batch_norm_train", x, weight, bias)
    number("batch_norm_train", "eps", eps, positive=True)
    x_hat, _ = _moments(x, _bn_axes("batch_norm_train", x), eps)
    return _affine(x_hat, weight, bias, _channel_view(x))


def batch_norm_train_vjp(x, weight, bias, grad_y, eps=TORCH_EPS):
    """``grad_x = inv_std * (h - mean(h) - x_hat * mean(h * x_hat))``, ``h = weight * grad_y``,
    means over ``(N, *S)``; ``grad_weight = sum g * x_hat``, ``grad_bias = sum g``.

    Returns ``(grad_weight, grad_bias, grad_x)`` (``None`` for an absent parameter).
    """
    op = "batch_norm_train_vjp"
    x, weight, bias = _channels_first(op, x, weight, bias)
    number(op, "eps", eps, positive=True)
    g = cotangent(op, "grad_y", grad_y, x.shape, x.dtype)
    axes = _bn_axes(op, x)
    x_hat, inv_std = _moments(x, axes, eps)
    view = _channel_view(x)
    h = g if weight is None else g * weight.reshape(view)
    grad_w = None if weight is None else (g * x_hat).sum(axis=axes)
    grad_b = None if bias is None else g.sum(axis=axes)
    return grad_w, grad_b, _x_hat_vjp(h, x_hat, inv_std, axes)


def batch_norm_train_jvp(x, weight, bias, dx, dweight, dbias, eps=TORCH_EPS):
    """``dy = weight * dx_hat + dweight * x_hat + dbias``, ``dx_hat`` the derivative of
    ``x_hat`` along ``dx`` (through the mean and the variance over ``(N, *S)``)."""
    op = "batch_norm_train_jvp"
    x, weight, bias = _channels_first(op, x, weight, bias)
    number(op, "eps", eps, positive=True)
    dx = tangent(op, "dx", dx, x)
    dweight = _param_tangent(op, "dweight", dweight, weight)
    dbias = _param_tangent(op, "dbias", dbias, bias)
    axes = _bn_axes(op, x)
    x_hat, inv_std = _moments(x, axes, eps)
    view = _channel_view(x)
    dy = _affine(_x_hat_vjp(dx, x_hat, inv_std, axes), weight, None, view)
    if dweight is not None:
        dy = dy + dweight.reshape(view) * x_hat
    if dbias is not None:
        dy = dy + dbias.reshape(view)
    return dy


def batch_norm_running_stats(x, running_mean, running_var, momentum=0.1):
    """``(1 - m) * running_mean + m * mu``, ``(1 - m) * running_var + m * var * n / (n - 1)``.

    The momentum update PyTorch makes in training mode (``momentum`` a number; PyTorch's
    cumulative average, ``momentum=None``, is not covered): the running variance takes the
    UNBIASED batch variance (``n = N * prod(S)`` values per channel), while the output is
    normalised with the biased one. Returns ``(new_mean, new_var)``; not differentiated
    (PyTorch's running statistics are buffers).
    """
    op = "batch_norm_running_stats"
    x = as_float_array(op, "x", x, min_ndim=2)
    axes = _bn_axes(op, x)
    rm = _param(op, "running_mean", running_mean, x.shape[1:2], x.dtype)
    rv = _param(op, "running_var", running_var, x.shape[1:2], x.dtype)
    if rm is None or rv is None:
        raise ShapeError(Rule.ARRAY_TYPE, op=op, name="running_mean and running_var",
                         got="None")
    m = x.dtype.type(number(op, "momentum", momentum))
    n = x.size // x.shape[1]
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(_channel_view(x))) ** 2).sum(axis=axes) / (n - 1)
    return (1 - m) * rm + m * mean, (1 - m) * rv + m * var


def _running(op: str, name: str, value, channels: int, dtype, *, positive: bool):
    """A running statistic: an array or a sequence of ``C`` finite numbers (as the records'
    static arguments give it); the variance non-negative."""
    if isinstance(value, (tuple, list)):
        values = [number(op, f"{name}[{i}]", v) for i, v in enumerate(value)]
        value = np.asarray(values, dtype=dtype)
    value = _param(op, name, value, (channels,), dtype)
    if value is None:
        raise ShapeError(Rule.ARRAY_TYPE, op=op, name=name, got="None")
    if positive and not np.all(value >= 0):
        raise ShapeError(f"{op}: {name} must be at least 0 everywhere, got {value.tolist()}",
                         rule=Rule.NUMBER)
    return value


def _eval_args(op, x, weight, bias, running_mean, running_var, eps):
    x, weight, bias = _channels_first(op, x, weight, bias)
    number(op, "eps", eps, positive=True)
    rm = _running(op, "running_mean", running_mean, x.shape[1], x.dtype, positive=False)
    rv = _running(op, "running_var", running_var, x.shape[1], x.dtype, positive=True)
    view = _channel_view(x)
    inv_std = (1 / np.sqrt(rv + x.dtype.type(eps))).reshape(view)
    return x, weight, bias, (x - rm.reshape(view)) * inv_std, inv_std, view


def batch_norm_eval(x, weight, bias, running_mean, running_var, eps=TORCH_EPS):
    """``y[n, c, s] = weight[c] * (x[n, c, s] - rm[c]) / sqrt(rv[c] + eps) + bias[c]``.

    PyTorch's ``F.batch_norm(x, rm, rv, weight, bias, training=False, eps=eps)``: the running
    statistics replace the batch's, so ``y`` is affine in ``x``. ``x`` is ``(N, C, *S)``.
    """
    _, weight, bias, x_hat, _, view = _eval_args("batch_norm_eval", x, weight, bias,
                                                 running_mean, running_var, eps)
    return _affine(x_hat, weight, bias, view)


def batch_norm_eval_vjp(x, weight, bias, running_mean, running_var, grad_y, eps=TORCH_EPS):
    """``grad_x = weight * grad_y / sqrt(rv + eps)``, ``grad_weight = sum g * x_hat``,
    ``grad_bias = sum g``. Returns ``(grad_weight, grad_bias, grad_x)``."""
    op = "batch_norm_eval_vjp"
    x, weight, bias, x_hat, inv_std, view = _eval_args(op, x, weight, bias, running_mean,
                                                       running_var, eps)
    g = cotangent(op, "grad_y", grad_y, x.shape, x.dtype)
    axes = (0, *range(2, x.ndim))
    grad_w = None if weight is None else (g * x_hat).sum(axis=axes)
    grad_b = None if bias is None else g.sum(axis=axes)
    return grad_w, grad_b, _affine(g * inv_std, weight, None, view)


def batch_norm_eval_jvp(x, weight, bias, running_mean, running_var, dx, dweight, dbias,
                        eps=TORCH_EPS):
    """``dy = weight * dx / sqrt(rv + eps) + dweight * x_hat + dbias``."""
    op = "batch_norm_eval_jvp"
    x, weight, bias, x_hat, inv_std, view = _eval_args(op, x, weight, bias, running_mean,
                                                       running_var, eps)
    dx = tangent(op, "dx", dx, x)
    dweight = _param_tangent(op, "dweight", dweight, weight)
    dbias = _param_tangent(op, "dbias", dbias, bias)
    dy = _affine(dx * inv_std, weight, None, view)
    if dweight is not None:
        dy = dy + dweight.reshape(view) * x_hat
    if dbias is not None:
        dy = dy + dbias.reshape(view)
    return dy


# -- layer norm ---------------------------------------------------------------------------
def _ln_args(op: str, x, normalized_shape, weight, bias, eps):
    x = as_float_array(op, "x", x)
    shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) \
        else tuple(normalized_shape)
    shape = tuple(integer(op, f"normalized_shape[{i}]", n, minimum=1)
                  for i, n in enumerate(shape))
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(
            f"{op}: normalized_shape={shape} must be the last axes of x, got x of shape "
            f"{x.shape}", rule=Rule.SHAPE_MATCH)
    number(op, "eps", eps, positive=True)
    weight = _param(op, "weight", weight, shape, x.dtype)
    bias = _param(op, "bias", bias, shape, x.dtype)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return x, weight, bias, axes, shape


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=TORCH_EPS):
    """``y = weight * (x - mu) / sqrt(var + eps) + bias`` over the last axes of ``x``.

    PyTorch's ``F.layer_norm``: ``mu`` and the biased ``var`` are taken over the trailing
    ``normalized_shape`` axes, separately for every leading index; ``weight`` and ``bias``
    have shape ``normalized_shape`` (or are ``None``).
    """
    x, weight, bias, axes, shape = _ln_args("layer_norm", x, normalized_shape, weight, bias,
                                            eps)
    x_hat, _ = _moments(x, axes, eps)
    return _affine(x_hat, weight, bias, shape)


def layer_norm_vjp(x, normalized_shape, weight, bias, grad_y, eps=TORCH_EPS):
    """``grad_x = inv_std * (h - mean(h) - x_hat * mean(h * x_hat))``, ``h = weight * g``;
    ``grad_weight``, ``grad_bias`` summed over the leading axes. Returns
    ``(grad_weight, grad_bias, grad_x)``."""
    op = "layer_norm_vjp"
    x, weight, bias, axes, shape = _ln_args(op, x, normalized_shape, weight, bias, eps)
    g = cotangent(op, "grad_y", grad_y, x.shape, x.dtype)
    x_hat, inv_std = _moments(x, axes, eps)
    lead = tuple(range(x.ndim - len(shape)))
    h = g if weight is None else g * weight
    grad_w = None if weight is None else (g * x_hat).sum(axis=lead)
    grad_b = None if bias is None else g.sum(axis=lead)
    return grad_w, grad_b, _x_hat_vjp(h, x_hat, inv_std, axes)


def layer_norm_jvp(x, normalized_shape, weight, bias, dx, dweight, dbias, eps=TORCH_EPS):
    """``dy = weight * dx_hat + dweight * x_hat + dbias``."""
    op = "layer_norm_jvp"
    x, weight, bias, axes, shape = _ln_args(op, x, normalized_shape, weight, bias, eps)
    dx = tangent(op, "dx", dx, x)
    dweight = _param_tangent(op, "dweight", dweight, weight)
    dbias = _param_tangent(op, "dbias", dbias, bias)
    x_hat, inv_std = _moments(x, axes, eps)
    dy = _affine(_x_hat_vjp(dx, x_hat, inv_std, axes), weight, None, shape)
    if dweight is not None:
        dy = dy + dweight * x_hat
    if dbias is not None:
        dy = dy + dbias
    return dy


# -- group norm ---------------------------------------------------------------------------
def _gn_args(op: str, x, num_groups, weight, bias, eps):
    x, weight, bias = _channels_first(op, x, weight, bias)
    groups = integer(op, "num_groups", num_groups, minimum=1)
    if x.shape[1] % groups:
        raise ShapeError(
            f"{op}: the {x.shape[1]} channels of x {x.shape} must split into num_groups="
            f"{groups} groups", rule=Rule.CHANNELS)
    if x.shape[0] * (x.shape[1] // groups) * (x.size // max(x.shape[0] * x.shape[1], 1)) < 2:
        raise ShapeError(
            f"{op}: expected more than 1 value per channel when training (PyTorch's rule for "
            f"group_norm: N * C / num_groups * prod(S) > 1), got input of shape {x.shape} with "
            f"num_groups={groups}", rule=Rule.POSITIVE_SIZE)
    number(op, "eps", eps, positive=True)
    return x, weight, bias, groups


def _grouped(x, groups):
    """``x`` as ``(N, G, C/G * prod(S))``: each group's cells of one sample on the last axis."""
    return x.reshape(x.shape[0], groups, -1)


def group_norm(x, num_groups, weight=None, bias=None, eps=TORCH_EPS):
    """``y[n, c, s] = weight[c] * (x[n, c, s] - mu[n, g]) / sqrt(var[n, g] + eps) + bias[c]``.

    PyTorch's ``F.group_norm``: the ``C`` channels split into ``num_groups`` groups of
    consecutive channels; ``mu[n, g]``, the biased ``var[n, g]`` over group ``g``'s channels
    and the spatial grid of sample ``n``. ``x`` is ``(N, C, *S)``; ``weight``, ``bias`` are
    ``(C,)`` or ``None``.
    """
    x, weight, bias, groups = _gn_args("group_norm", x, num_groups, weight, bias, eps)
    x_hat, _ = _moments(_grouped(x, groups), (2,), eps)
    return _affine(x_hat.reshape(x.shape), weight, bias, _channel_view(x))


def group_norm_vjp(x, num_groups, weight, bias, grad_y, eps=TORCH_EPS):
    """``grad_x = inv_std * (h - mean(h) - x_hat * mean(h * x_hat))`` per (sample, group),
    ``h = weight * g``. Returns ``(grad_weight, grad_bias, grad_x)``."""
    op = "group_norm_vjp"
    x, weight, bias, groups = _gn_args(op, x, num_groups, weight, bias, eps)
    g = cotangent(op, "grad_y", grad_y, x.shape, x.dtype)
    x_hat, inv_std = _moments(_grouped(x, groups), (2,), eps)
    view = _channel_view(x)
    axes = (0, *range(2, x.ndim))
    h = g if weight is None else g * weight.reshape(view)
    grad_x = _x_hat_vjp(_grouped(h, groups), x_hat, inv_std, (2,)).reshape(x.shape)
    x_hat = x_hat.reshape(x.shape)
    grad_w = None if weight is None else (g * x_hat).sum(axis=axes)
    grad_b = None if bias is None else g.sum(axis=axes)
    return grad_w, grad_b, grad_x


def group_norm_jvp(x, num_groups, weight, bias, dx, dweight, dbias, eps=TORCH_EPS):
    """``dy = weight * dx_hat + dweight * x_hat + dbias``, per (sample, group)."""
    op = "group_norm_jvp"
    x, weight, bias, groups = _gn_args(op, x, num_groups, weight, bias, eps)
    dx = tangent(op, "dx", dx, x)
    dweight = _param_tangent(op, "dweight", dweight, weight)
    dbias = _param_tangent(op, "dbias", dbias, bias)
    x_hat, inv_std = _moments(_grouped(x, groups), (2,), eps)
    view = _channel_view(x)
    dx_hat = _x_hat_vjp(_grouped(dx, groups), x_hat, inv_std, (2,)).reshape(x.shape)
    dy = _affine(dx_hat, weight, None, view)
    if dweight is not None:
        dy = dy + dweight.reshape(view) * x_hat.reshape(x.shape)
    if dbias is not None:
        dy = dy + dbias.reshape(view)
    return dy


# --------------------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------------------
def _batch(choose, rank: int, *, channels=range(1, 4), sizes=range(3, 5)) -> tuple[int, ...]:
    """``(N, C, *S)``; three or more cells per spatial axis: with two values to normalise,
    ``x_hat`` is +-1 whatever ``x`` is, its Jacobian nearly 0, and an adjoint residual is all
    rounding."""
    return (choose((1, 2, 3)), choose(channels), *(choose(sizes) for _ in range(rank)))


def _sample_bn_train(choose, rank, exact):
    x = _batch(choose, rank)
    x = (max(x[0], 2), *x[1:])  # a batch: PyTorch's statistics over N > 1 too
    return Geometry({"x": x, "weight": x[1:2], "bias": x[1:2]}, {"eps": TORCH_EPS})


def _torch_bn_train(x, weight, bias, eps):
    import torch.nn.functional as F

    return F.batch_norm(x, None, None, weight, bias, training=True, eps=eps)


def _sample_bn_eval(choose, rank, exact):
    x = _batch(choose, rank, sizes=range(1, 4))
    c = x[1]
    mean = tuple(choose((-0.5, 0.0, 0.25, 1.0)) for _ in range(c))
    var = tuple(choose((0.25, 1.0, 2.0)) for _ in range(c))
    return Geometry({"x": x, "weight": (c,), "bias": (c,)},
                    {"running_mean": mean, "running_var": var, "eps": TORCH_EPS})


def _torch_bn_eval(x, weight, bias, running_mean, running_var, eps):
    """``F.batch_norm`` in eval mode, but written out: autograd refuses a gradient through
    ``F.batch_norm``'s running statistics, and the agreement test asks one of every operand."""
    import torch

    view = (1, -1) + (1,) * (x.dim() - 2)
    rm = torch.as_tensor(running_mean, dtype=x.dtype).reshape(view)
    rv = torch.as_tensor(running_var, dtype=x.dtype).reshape(view)
    y = (x - rm) / torch.sqrt(rv + eps)
    y = y if weight is None else y * weight.reshape(view)
    return y if bias is None else y + bias.reshape(view)


def _sample_layer_norm(choose, rank, exact):
    x = _batch(choose, rank)[1:] if choose((False, True)) else _batch(choose, rank)
    k = choose(range(1, len(x) + 1))
    shape = x[len(x) - k:]
    return Geometry({"x": x, "weight": shape, "bias": shape},
                    {"normalized_shape": shape if choose((True, False)) or k > 1 else shape[0],
                     "eps": TORCH_EPS})


def _torch_layer_norm(x, normalized_shape, weight, bias, eps):
    import torch.nn.functional as F

    shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) \
        else (normalized_shape,)
    return F.layer_norm(x, shape, weight, bias, eps)


def _sample_group_norm(choose, rank, exact):
    groups = choose((1, 2, 3))
    x = _batch(choose, rank, channels=[groups * k for k in (1, 2)])
    return Geometry({"x": x, "weight": x[1:2], "bias": x[1:2]},
                    {"num_groups": groups, "eps": TORCH_EPS})


def _torch_group_norm(x, num_groups, weight, bias, eps):
    import torch.nn.functional as F

    return F.group_norm(x, num_groups, weight, bias, eps)


_NORM = {"operands": ("x", "weight", "bias"), "order": ("weight", "bias", "x"), "exact": False}

BATCH_NORM_TRAIN = declare(Op(
    "batch_norm_train", batch_norm_train, batch_norm_train_vjp, batch_norm_train_jvp,
    static=("eps",), sample=_sample_bn_train, torch=_torch_bn_train, **_NORM,
    doc="PyTorch's training batch norm over (N, *S), biased variance"))

BATCH_NORM_EVAL = declare(Op(
    "batch_norm_eval", batch_norm_eval, batch_norm_eval_vjp, batch_norm_eval_jvp,
    static=("running_mean", "running_var", "eps"), sample=_sample_bn_eval,
    torch=_torch_bn_eval, **_NORM, doc="PyTorch's eval batch norm, running statistics"))

LAYER_NORM = declare(Op(
    "layer_norm", layer_norm, layer_norm_vjp, layer_norm_jvp,
    static=("normalized_shape", "eps"), sample=_sample_layer_norm, torch=_torch_layer_norm,
    **_NORM, doc="normalised over the trailing normalized_shape axes"))

GROUP_NORM = declare(Op(
    "group_norm", group_norm, group_norm_vjp, group_norm_jvp,
    static=("num_groups", "eps"), sample=_sample_group_norm, torch=_torch_group_norm, **_NORM,
    doc="normalised over channel groups of one sample"))
