"""On random UNet descriptions the proved rule agrees with every obligation for n <= 4096."""

from hypothesis import given, settings
from hypothesis import strategies as st

from nnbridge.unet import (
    Conv,
    ConvTranspose,
    Level,
    Pool,
    UNetDescription,
    Upsample,
    rule_for,
    trace,
)

N = 4096

convs = st.lists(st.builds(Conv, kernel=st.integers(1, 5), stride=st.just(1),
                           padding=st.integers(0, 2), dilation=st.integers(1, 2)),
                 max_size=2)
downs = st.one_of(
    st.builds(Pool, kernel=st.integers(1, 3), stride=st.integers(1, 3),
              padding=st.just(0), ceil_mode=st.booleans(), exact=st.booleans()),
    st.builds(Conv, kernel=st.integers(1, 4), stride=st.integers(1, 3),
              padding=st.integers(0, 1)),
)
ups = st.one_of(
    st.builds(ConvTranspose, kernel=st.integers(1, 4), stride=st.integers(1, 3),
              padding=st.integers(0, 1)),
    st.builds(Upsample, scale=st.integers(1, 3)),
)


@st.composite
def descriptions(draw):
    levels = tuple(Level(convs=tuple(draw(convs)), down=(draw(downs),), up=(draw(ups),),
                         skip=draw(st.sampled_from(["concat", "crop", "add", "none"])),
                         dec_convs=tuple(draw(convs)))
                   for _ in range(draw(st.integers(1, 2))))
    return UNetDescription("random", levels, bottom=tuple(draw(convs)),
                           head=tuple(draw(convs)), spatial_dims=1,
                           output=draw(st.sampled_from(["same", "any"])),
                           multiple_of=draw(st.one_of(st.none(), st.integers(1, 4))))


@settings(max_examples=20)
@given(descriptions())
def test_rule_agrees_with_obligations(desc):
    rule = rule_for(desc, 0)
    assert rule.proved, rule
    disagree = [n for n in range(1, N + 1) if trace(desc, 0, n).valid != rule.contains(n)]
    assert disagree == []
