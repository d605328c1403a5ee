"""Adjoint identities: every backward rule checked as the adjoint of its forward derivative."""
