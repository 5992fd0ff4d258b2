"""Blocks shared by the spectral stacks."""
