"""Proof obligations of the arith family: one test per obligation, its statement as docstring."""

from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("arith"))
