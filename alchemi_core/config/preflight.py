"""Pre-flight: a config loaded and checked through, before anything runs or starts.

One function for `alchemi config validate` and every flow (flows/*.py call it before Prefect or
its temporary API starts, and again first thing in each flow, for deployment runs): the file's
keys and values (finite numbers), registered classes and their params, the metrics it names,
the facts one stage needs from another, and every input file's header or schema (never whole
tables). The first problem is a UserError: one line naming the file and the key or column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def preflight(
    path: str | Path, kind: str | None = None, overrides: list[str] | None = None
) -> tuple[Any, Any]:
    """(kind, loaded config) of the file at `path`; `kind` by name, else from the file."""
    from alchemi_core.config.kinds import get_kind, kind_of

    found = get_kind(kind) if kind else kind_of(path)
    loaded = found.load(str(path), list(overrides or []))
    if found.check is not None:
        found.check(loaded, str(path))
    return found, loaded


def checked(kind: str):
    """`check(path) -> loaded config` of one kind, for a flow's command line and entry."""

    def check(path: str | Path) -> Any:
        return preflight(path, kind)[1]

    return check
