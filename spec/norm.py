"""Batch norm over one image (TorchLean's ResNet BN), with vjp and jvp.

TorchLean normalises each channel over the spatial grid of ONE image (training mode, batch
of one) with the biased variance and ``eps = 1e-6``; there are no running statistics.
"""

from __future__ import annotations

import numpy as np

from .checks import as_float_array, cotangent, number, same_dtype, tangent
from .errors import ShapeError

__all__ = ["batch_norm", "batch_norm_jvp", "batch_norm_vjp"]

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
