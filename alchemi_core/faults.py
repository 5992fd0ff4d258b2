"""Fail points for crash tests (off unless ALCHEMI_FAILPOINT is set).

ALCHEMI_FAILPOINT=name:n kills this process with SIGKILL the n-th time point(name) runs,
so a test can crash a real training at an exact place (mid-write, between renames, ...).
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("ALCHEMI_FAILPOINT", "")
_NAME, _, _N = _SPEC.partition(":")
_seen = 0


def point(name: str) -> None:
    global _seen
    if not _SPEC or name != _NAME:
        return
    _seen += 1
    if _seen == int(_N or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def active() -> bool:
    """A fail point is set: crash tests want every write where its point is, in this thread."""
    return bool(_SPEC)
