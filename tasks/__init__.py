"""Prefect tasks: thin wrappers over alchemi_core.api that pass paths and content hashes."""
