"""Proof obligations of the round_trip family: one test per obligation.

Each test's docstring is its statement."""

from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("round_trip"))
