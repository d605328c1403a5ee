"""CNN2: the closed form of the default feature shape, stated, derived by SymPy, proved by Z3."""

from __future__ import annotations

import sympy as sp
import z3
from nnbridge.spec.shapes import CNN2Config, cnn2_feat_shape, cnn2_feat_size, pool_h2, pool_w2

from .closed_form import derive, size_symbol
from .engine import ClosedForm, Proof, nats, obligation

DEFAULT = CNN2Config()

_H, _W = size_symbol("H"), size_symbol("W")
#: poolH2 of the default CNN2Config, as stated: Lean's phantom cells keep 1 below 4.
FEAT_H = sp.Piecewise((1, _H < 4), (sp.floor(_H / 4), True))
#: poolW2 of the default CNN2Config, as stated.
FEAT_W = sp.Piecewise((1, _W < 4), (sp.floor(_W / 4), True))


@obligation("cnn2", expect=FEAT_H)
def cnn2_feat_h_closed_form():
    """poolH2 for the default CNN2Config is {expect}: Z3 proves it equal to the chain
    convOut -> poolOut -> convOut -> poolOut for all H >= 1, and SymPy derives the same."""
    (h,), nat = nats("H")
    derived = derive(lambda m: pool_h2(DEFAULT, m), name="H")
    return ClosedForm(h, nat + [h >= 1], pool_h2(DEFAULT, h), derived.closed, FEAT_H)


@obligation("cnn2", expect=FEAT_W)
def cnn2_feat_w_closed_form():
    """poolW2 for the default CNN2Config is {expect}: Z3 proves it equal to the W chain for
    all W >= 1, and SymPy derives the same."""
    (w,), nat = nats("W")
    derived = derive(lambda m: pool_w2(DEFAULT, m), name="W")
    return ClosedForm(w, nat + [w >= 1], pool_w2(DEFAULT, w), derived.closed, FEAT_W)


@obligation("cnn2")
def cnn2_feat_shape_at_28(cfg=DEFAULT):
    """For the default CNN2Config at 28x28 (MNIST): poolH2 = 7, poolW2 = 7, c2 = 64, so
    featShape = (64, 7, 7) and featSize = 3136."""
    # ``cfg`` is the default config; a test passes a planted one to see this refuted.
    (h, w), nat = nats("H W")
    channels, ph, pw = cnn2_feat_shape(cfg, h, w)
    size = cnn2_feat_size(cfg, h, w)
    return Proof([h, w], nat + [h == 28, w == 28],
                 {"poolH2": ph == 7, "poolW2": pw == 7, "channels": channels == 64,
                  "featSize": size == 3136},
                 subjects=[t for t in (ph, pw, channels, size) if z3.is_expr(t)])
