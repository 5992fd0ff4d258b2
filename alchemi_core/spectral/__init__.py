"""Spectral utilities: continuum removal, retrieval metrics."""
