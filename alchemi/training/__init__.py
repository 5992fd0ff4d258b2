"""Spec import path; re-exports only."""
