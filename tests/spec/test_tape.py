"""The tape: gradients by composition agree with torch autograd and with hand-chained VJPs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnbridge.spec.convolution import conv, conv_transpose_vjp, conv_vjp
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.pool import avg_pool_vjp, max_pool, max_pool_vjp, smooth_max_pool_vjp
from nnbridge.spec.tape import NODE_TYPES, Tape, register_node


def _leaves(t, rng, *shapes):
    return [t.leaf(rng.standard_normal(s)) for s in shapes]


def test_2d_chain_matches_torch_autograd():
    """conv2d -> max_pool2d_pad -> smooth_max_pool2d -> conv_transpose2d -> avg_pool2d_pad."""
    rng = np.random.default_rng(1)
    t = Tape()
    x, w1, b1, w2, b2 = _leaves(t, rng, (2, 9, 8), (3, 2, 3, 3), (3,), (3, 2, 2, 2), (2,))
    h = t.conv2d(w1, b1, x, 1, 1)
    p = t.max_pool2d_pad(h, (3, 2), 2, 1)
    a = t.smooth_max_pool2d(p, (2, 2), 1, beta=2.0)
    u = t.conv_transpose2d(w2, b2, a, 2, 0)
    out = t.avg_pool2d_pad(u, 3, 2, 1)
    g = rng.standard_normal(t.value(out).shape)
    grads = t.backward(out, g)

    ref = [torch.tensor(t.value(i), requires_grad=True) for i in (x, w1, b1, w2, b2)]
    hh = F.max_pool2d(F.conv2d(ref[0][None], ref[1], ref[2], padding=1), (3, 2), 2, 1)
    win = hh.unfold(2, 2, 1).unfold(3, 2, 1)
    aa = torch.logsumexp(2.0 * win.flatten(-2), -1) / 2.0
    oo = F.avg_pool2d(F.conv_transpose2d(aa, ref[3], ref[4], stride=2), 3, 2, 1)[0]
    np.testing.assert_allclose(t.value(out), oo.detach().numpy(), rtol=1e-12, atol=1e-12)
    oo.backward(torch.tensor(g))
    for node, r in zip((x, w1, b1, w2, b2), ref, strict=True):
        np.testing.assert_allclose(grads[node], r.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 3])
def test_nd_chain_matches_hand_chained_vjps(rank):
    rng = np.random.default_rng(rank)
    size = (8,) * rank
    t = Tape()
    x, w, b, wt, bt = _leaves(t, rng, (2, *size), (3, 2) + (3,) * rank, (3,),
                              (3, 2) + (2,) * rank, (2,))
    h = t.conv(w, b, x, stride=1, padding=1)
    p = t.max_pool(h, 2, 2)
    q = t.conv_transpose(wt, bt, p, stride=2, padding=0)
    s = t.smooth_max_pool(q, 2, 1, 1, beta=0.5)
    out = t.avg_pool(s, 2, 1, 0)
    g = rng.standard_normal(t.value(out).shape)
    grads = t.backward(out, g)

    # the same chain, differentiated by hand from the per-op VJPs
    X, W, B, WT, BT = (t.value(i) for i in (x, w, b, wt, bt))
    H = conv(X, W, B, 1, 1)
    P = max_pool(H, 2, 2)
    Q = t.value(q)
    S = t.value(s)
    g_s = avg_pool_vjp(S, g, 2, 1, 0)
    g_q = smooth_max_pool_vjp(Q, g_s, 2, 1, 1, beta=0.5)
    g_wt, g_bt, g_p = conv_transpose_vjp(P, WT, BT, g_q, 2, 0)
    g_h = max_pool_vjp(H, g_p, 2, 2)
    g_w, g_b, g_x = conv_vjp(X, W, B, g_h, 1, 1)
    for node, ref in ((x, g_x), (w, g_w), (b, g_b), (wt, g_wt), (bt, g_bt)):
        np.testing.assert_allclose(grads[node], ref, rtol=1e-13, atol=1e-13)


def test_shared_parent_accumulates():
    t = Tape()
    x = t.leaf(np.arange(16.0).reshape(1, 4, 4))
    y = t.add_node("add", t.value(x) * 2, (x, x), lambda g: (g, g))
    out = t.avg_pool(y, 2)
    np.testing.assert_allclose(t.backward(out)[x], np.full((1, 4, 4), 0.5))


def test_registered_node_type_is_recordable():
    register_node("scale_test", forward=lambda x, factor: factor * x,
                  vjp=lambda x, g, factor: factor * g)
    try:
        t = Tape()
        x = t.leaf(np.ones((1, 4, 4)))
        y = t.scale_test(x, factor=3.0)
        out = t.max_pool2d(y, (2, 2), 2)
        grads = t.backward(out)
        np.testing.assert_array_equal(grads[x], np.kron(np.ones((2, 2)), [[3, 0], [0, 0]])[None])
    finally:
        del NODE_TYPES["scale_test"]


def test_bad_use_is_reported():
    t = Tape()
    x = t.leaf(np.zeros((1, 4, 4, 4)))
    with pytest.raises(ShapeError, match="expects a \\(C, H, W\\) input"):
        t.max_pool2d(x, (2, 2), 2)
    with pytest.raises(ShapeError, match="no node with id 7"):
        t.avg_pool(7, 2)
    with pytest.raises(KeyError, match="no node type"):
        t.apply("missing_op", x)
    y = t.avg_pool(x, 2)
    with pytest.raises(ShapeError, match="grad_y has shape"):
        t.backward(y, np.zeros((1, 3, 3, 3)))
