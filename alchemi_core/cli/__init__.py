"""The `alchemi` command: main.py parses and dispatches; one module per command group."""

from alchemi_core.cli.main import main

__all__ = ["main"]
