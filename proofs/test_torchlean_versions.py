"""Proof obligations of the torchlean_versions family: one test per obligation."""

from nnbridge.proofs import torchlean_versions  # noqa: F401  (registers the family)
from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("torchlean_versions"))
