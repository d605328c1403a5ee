"""Proof obligations of the preservation family: one test per obligation.

Each test's docstring is its statement."""

from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("preservation"))
