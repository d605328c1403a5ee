"""Proof obligations of the torchlean_ir family: one test per obligation, its statement as
docstring."""

from nnbridge.proofs import torchlean_ir  # noqa: F401  (registers the family)
from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("torchlean_ir"))
