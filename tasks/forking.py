"""Work around a Prefect 3.8.8 bug that kills forked children (e.g. DataLoader workers).

After a flow has run, Prefect's log and event services have registered threading-exit callbacks.
A forked child inherits them; Prefect's own after-fork reset clears the services' state, so the
callbacks then fail (AssertionError in `_QueueServiceBase._drain`) when the child exits, and
every fork child ends with exit code 1: `DataLoader worker ... exited unexpectedly`. In the child
we drop those callbacks: it has no service threads to drain.
"""

from __future__ import annotations

import os
import threading

from prefect._internal.concurrency.services import _QueueServiceBase

_installed = False


def _is_service_exit(callback) -> bool:
    bound = getattr(callback, "func", callback)
    return isinstance(getattr(bound, "__self__", None), _QueueServiceBase)


def _drop_service_exits_in_child() -> None:
    exits = getattr(threading, "_threading_atexits", None)
    if exits is not None:
        exits[:] = [cb for cb in exits if not _is_service_exit(cb)]


def install() -> None:
    """Register the after-fork fix once per process (called when a flow starts)."""
    global _installed
    if not _installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_drop_service_exits_in_child)
        _installed = True
