"""Fail points for crash tests (off unless ALCHEMI_FAILPOINT is set).

ALCHEMI_FAILPOINT=name:n kills this process with SIGKILL the n-th time point(name) runs,
so a test can crash a real training at an exact place (mid-write, between renames, ...).
ALCHEMI_OSERROR=name:errno makes os_error(name, path) raise that OS error instead.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_SPEC = os.environ.get("ALCHEMI_FAILPOINT", "")
_NAME, _, _N = _SPEC.partition(":")
_seen = 0


def os_error(name: str, path: str | Path) -> None:
    """ALCHEMI_OSERROR=name:ERRNO makes every os_error(name, path) raise that OSError (e.g.
    write:28, a full disk; write:30, a read-only one): tests of the error boundary."""
    spec = os.environ.get("ALCHEMI_OSERROR", "")
    which, _, code = spec.partition(":")
    if spec and which == name:
        raise OSError(int(code), os.strerror(int(code)), str(path))


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
