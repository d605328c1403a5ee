"""Planted defects: each one must be caught, by the adjoint identity or by the JVP check."""

import numpy as np
import pytest
from nnbridge.spec.convolution import (
    conv,
    conv_jvp,
    conv_transpose,
    conv_transpose_jvp,
    conv_transpose_vjp,
    conv_vjp,
    crop_spatial,
    offset_slice,
    pad_spatial,
    windows,
)
from nnbridge.spec.pool import avg_pool, avg_pool_jvp, avg_pool_vjp, max_pool

from nnbridge.adjoint import Case, check_adjoint, check_jvp

GEOMETRY = {"stride": (2, 1), "padding": (1, 1)}
ALL_MODES = ("exact", "float32", "float64")


# -- an off-by-one padding in the conv input gradient --------------------------------------
def conv_vjp_off_by_one(x, w, b, grad_y, stride, padding):
    """The spec's scatter, cropped one cell too far on every axis."""
    grad_w, grad_b, _ = conv_vjp(x, w, b, grad_y, stride, padding)
    x_pad = pad_spatial(x, padding)
    out = grad_y.shape[1:]
    grad_pad = np.zeros(x_pad.shape)
    for k in np.ndindex(*w.shape[2:]):
        grad_pad[offset_slice(k, stride, out)] += np.tensordot(w[(slice(None),) * 2 + k],
                                                               grad_y, axes=(0, 0))
    return grad_w, grad_b, crop_spatial(grad_pad, tuple(p + 1 for p in padding), x.shape[1:])


def _conv_x(vjp):
    def build(s):
        x, w, b = s.array((2, 7, 6)), s.array((3, 2, 3, 3)), s.array((3,))
        return Case((x,), forward=lambda x: conv(x, w, b, **GEOMETRY),
                    jvp=lambda dx: conv_jvp(x, w, b, dx, None, None, **GEOMETRY),
                    vjp=lambda g: (vjp(x, w, b, g, **GEOMETRY)[2],))
    return build


# -- a missing kernel flip in the transposed-conv backward ---------------------------------
def conv_transpose_vjp_unflipped(x, w, b, grad_y, stride, padding):
    """The input gradient read with the kernel in the wrong orientation (its spatial axes
    reversed): the flip that relates the backward to the forward is lost."""
    grads = conv_transpose_vjp(x, w[(Ellipsis,) + (slice(None, None, -1),) * (w.ndim - 2)], b,
                               grad_y, stride, padding)
    return conv_transpose_vjp(x, w, b, grad_y, stride, padding)[:2] + (grads[2],)


def _conv_transpose_x(vjp):
    def build(s):
        x, w, b = s.array((2, 4, 5)), s.array((2, 3, 3, 2)), s.array((3,))
        return Case((x,), forward=lambda x: conv_transpose(x, w, b, **GEOMETRY),
                    jvp=lambda dx: conv_transpose_jvp(x, w, b, dx, None, None, **GEOMETRY),
                    vjp=lambda g: (vjp(x, w, b, g, **GEOMETRY)[2],))
    return build


# -- TorchLean's max-pool argmax fold, shared by its JVP and VJP ---------------------------
def torchlean_argmax(win):
    """TorchLean's fold over a (kH, kW) window: each cell is compared with the best cell of
    the PREVIOUS ROWS, not with the running best. ``win``: (..., kH, kW); returns flat index."""
    k_h, k_w = win.shape[-2:]
    flat = win.reshape(win.shape[:-2] + (k_h * k_w,))
    best = np.zeros(win.shape[:-2], dtype=np.int64)
    for r in range(k_h):
        before_row = np.take_along_axis(flat, best[..., None], -1)[..., 0]
        for c in range(k_w):
            best = np.where(win[..., r, c] > before_row, r * k_w + c, best)
    return best


def _torchlean_cells(x, kernel):
    win = windows(x, kernel, kernel, tuple(n // k for n, k in zip(x.shape[1:], kernel,
                                                                  strict=True)))
    first = torchlean_argmax(win)
    r, c = np.unravel_index(first, kernel)
    o_h, o_w = np.meshgrid(*[np.arange(n) for n in first.shape[1:]], indexing="ij")
    return (np.arange(x.shape[0])[:, None, None], o_h * kernel[0] + r, o_w * kernel[1] + c)


def max_pool2d_jvp_torchlean(x, dx, kernel):
    return dx[_torchlean_cells(x, kernel)]


def max_pool2d_vjp_torchlean(x, grad_y, kernel):
    grad_x = np.zeros_like(x)
    np.add.at(grad_x, _torchlean_cells(x, kernel), grad_y)
    return grad_x


def _torchlean_max_pool(s):
    x = s.unique((3, 6, 6))
    return Case((x,), forward=lambda x: max_pool(x, (2, 2)),
                jvp=lambda dx: max_pool2d_jvp_torchlean(x, dx, (2, 2)),
                vjp=lambda g: (max_pool2d_vjp_torchlean(x, g, (2, 2)),))


# -- a wrong avg-pool divisor in the backward -----------------------------------------------
def avg_pool_vjp_wrong_divisor(x, grad_y, kernel, stride, padding):
    """Divides by the number of real (unpadded) cells, as count_include_pad=False would."""
    real = avg_pool(np.ones_like(x), kernel, stride, padding)  # real cells / kernel volume
    return avg_pool_vjp(x, grad_y / real, kernel, stride, padding)


def _avg_pool(vjp):
    opts = {"kernel": (2, 2), "stride": (2, 1), "padding": (1, 1)}

    def build(s):
        x = s.array((3, 5, 6))
        return Case((x,), forward=lambda x: avg_pool(x, **opts),
                    jvp=lambda dx: avg_pool_jvp(x, dx, **opts),
                    vjp=lambda g: (vjp(x, g, **opts),))
    return build


DEFECTS = {
    "conv input gradient, padding off by one": (_conv_x(conv_vjp), _conv_x(conv_vjp_off_by_one)),
    "transposed conv backward without the kernel flip": (
        _conv_transpose_x(conv_transpose_vjp), _conv_transpose_x(conv_transpose_vjp_unflipped)),
    "avg pool backward with the wrong divisor": (_avg_pool(avg_pool_vjp),
                                                 _avg_pool(avg_pool_vjp_wrong_divisor)),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
@pytest.mark.parametrize("mode", ALL_MODES)
def test_adjoint_check_catches_backward_defect(defect, mode):
    sound, broken = DEFECTS[defect]
    assert check_adjoint(sound, mode, name="sound").passed
    result = check_adjoint(broken, mode, name=defect)
    assert not result.passed
    assert result.worst_residual > result.tolerance


def test_torchlean_argmax_fold_sends_the_gradient_to_the_3():
    window = np.array([[0.0, 0.0], [5.0, 3.0]])
    assert np.unravel_index(torchlean_argmax(window), (2, 2)) == (1, 1)  # the 3
    x = window[None]
    np.testing.assert_array_equal(max_pool2d_vjp_torchlean(x, np.ones((1, 1, 1)), (2, 2)),
                                  [[[0, 0], [0, 1]]])


def test_shared_argmax_defect_passes_adjoint_but_fails_jvp():
    """JVP and VJP share the wrong argmax, so <Au, v> = <u, A^T v> still holds exactly;
    only the comparison of the JVP with finite differences finds it."""
    for mode in ALL_MODES:
        assert check_adjoint(_torchlean_max_pool, mode).passed
    result = check_jvp(_torchlean_max_pool)
    assert not result.passed
    assert result.worst_residual > 1e-2


def test_exact_mode_has_no_tolerance():
    """A backward off by one part in 2**40 passes float32 but fails exact mode."""
    sound = _conv_x(conv_vjp)

    def build(s):
        case = sound(s)
        return Case(case.primal, forward=case.forward, jvp=case.jvp,
                    vjp=lambda g: tuple(a * (1 + 2.0**-40) for a in case.vjp(g)))
    assert check_adjoint(build, "float32").passed
    result = check_adjoint(build, "exact")
    assert not result.passed and result.tolerance == 0.0
