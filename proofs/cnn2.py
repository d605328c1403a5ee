"""CNN2: the closed form of the default feature shape, derived by SymPy, proved by Z3."""

from __future__ import annotations

from nnbridge.spec.shapes import CNN2Config, pool_h2, pool_w2

from .closed_form import derive
from .engine import ClosedForm, Proof, nats, obligation

DEFAULT = CNN2Config()


@obligation("cnn2")
def cnn2_feat_h_closed_form():
    """SymPy derives poolH2 for the default CNN2Config: 1 for H < 4, else floor(H/4);
    Z3 proves it equal to the chain convOut -> poolOut -> convOut -> poolOut for all H >= 1."""
    (h,), nat = nats("H")
    derived = derive(lambda m: pool_h2(DEFAULT, m), name="H")
    return ClosedForm(h, nat + [h >= 1], pool_h2(DEFAULT, h), derived.closed)


@obligation("cnn2")
def cnn2_feat_w_closed_form():
    """SymPy derives poolW2 for the default CNN2Config: 1 for W < 4, else floor(W/4);
    Z3 proves it equal to the W chain for all W >= 1."""
    (w,), nat = nats("W")
    derived = derive(lambda m: pool_w2(DEFAULT, m), name="W")
    return ClosedForm(w, nat + [w >= 1], pool_w2(DEFAULT, w), derived.closed)


@obligation("cnn2")
def cnn2_feat_shape_at_28():
    """For the default CNN2Config at 28x28 (MNIST): featShape = (64, 7, 7), featSize 3136."""
    (h, w), nat = nats("H W")
    return Proof([h, w], nat + [h == 28, w == 28],
                 (pool_h2(DEFAULT, h) == 7) == (pool_w2(DEFAULT, w) == 7))
