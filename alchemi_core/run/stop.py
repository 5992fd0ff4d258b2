"""Ctrl-C and SIGTERM: the first asks every run of this process to stop after its current
epoch's checkpoint is on disk (the runner checks after each epoch, so the run resumes exactly
from it); a second exits at once (the run then resumes from its last written checkpoint).

The command line (cli/main.py) and the flow scripts (flows/entry.py) run under `handling()`.
A Prefect flow run puts its own SIGTERM handler in place for its duration (it ends the flow
run as crashed); a flow started from the command line takes SIGTERM back with `reclaim()`. A
deployment's flow run keeps Prefect's, so a cancel from Prefect stays a cancel.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

from alchemi_core.errors import AlchemiError

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals received, in order
_at_exit: list[Callable[[], None]] = []  # run before a second signal's immediate exit
_owner: list[int] = []  # the process that installed the handler (forked children inherit it)


class StopRequested(AlchemiError):
    """The run stopped at a checkpoint on request; `code` is the conventional exit code."""

    def __init__(self, signum: int, where: str):
        self.signum, self.where = signum, where
        self.code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"stopped on {name} {where}; run the same command again to resume")

    def __reduce__(self):  # a task's failure crosses a pickle (Prefect's result store)
        return type(self), (self.signum, self.where)


def requested() -> int | None:
    """The signal that asked to stop (None: no request)."""
    return _received[0] if _received else None


def handle(signum: int, frame=None) -> None:
    if _owner and os.getpid() != _owner[-1]:
        return  # a forked child (a DataLoader worker): the run's own process decides
    _received.append(signum)  # handlers run on the main thread, one at a time
    if len(_received) == 1:
        name = signal.Signals(signum).name
        say(f"{name}: stopping after the current epoch's checkpoint (again: stop at once)")
        return
    say("stopped at once; the run resumes from its last checkpoint")
    for fn in reversed(_at_exit):
        with contextlib.suppress(Exception):
            fn()
    os._exit(128 + signum)  # training threads would hold up a normal exit


def say(line: str) -> None:
    """To stderr unbuffered: the handler may run while the main thread is inside a print."""
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), f"{line}\n".encode())


def at_exit(fn: Callable[[], None]) -> None:
    """`fn` also runs before a second signal's immediate exit (which skips atexit)."""
    _at_exit.append(fn)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """This process's SIGINT and SIGTERM handler for the scope (off the main thread: none)."""
    reset()
    try:
        before = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    except ValueError:
        before = {}
    _owner.append(os.getpid())
    try:
        yield
    finally:
        _owner.pop()
        for sig, old in before.items():
            signal.signal(sig, old)


def reclaim() -> None:
    """SIGTERM ours again where a scope took it over (a Prefect flow run, which restores ours
    when it ends), if this process handles signals here (`handling`)."""
    with contextlib.suppress(ValueError):  # off the main thread: signals stay as they are
        if signal.getsignal(signal.SIGINT) is handle:
            signal.signal(signal.SIGTERM, handle)


def reset() -> None:
    """Forget earlier requests."""
    _received.clear()
