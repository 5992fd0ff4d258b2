"""Log lines and progress bars: rich on a terminal, plain lines everywhere else.

Rich decides what a terminal is (`Console.is_terminal`: a TTY, or FORCE_COLOR/TTY_COMPATIBLE
set); CI logs and files get plain timestamped lines. Bars are drawn only from the main thread:
Prefect runs tasks in worker threads, where concurrent bars would overwrite each other, so
under Prefect every step logs plain per-epoch lines. Log lines pass through `scrub` (secrets).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from alchemi_core.secrets import scrub

FORMAT = "%(asctime)s alchemi: %(message)s"


@cache
def console():
    from rich.console import Console

    return Console(stderr=True)


def on_terminal() -> bool:
    return console().is_terminal


def bars() -> bool:
    return on_terminal() and threading.current_thread() is threading.main_thread()


class _Scrub(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        return True


def setup_logging(level: int = logging.INFO) -> None:
    """The "alchemi" logger's one handler: rich's on a terminal, a plain stream otherwise."""
    root = logging.getLogger("alchemi")
    for h in [h for h in root.handlers if getattr(h, "_alchemi", False)]:
        root.removeHandler(h)
    if on_terminal():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=console(), show_path=False, markup=False, log_time_format="%H:%M:%S"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    handler.addFilter(_Scrub())
    handler._alchemi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


class _Bar:
    def __init__(self, progress, task):
        self.progress, self.task = progress, task

    def update(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)


@contextmanager
def bar(total: int, description: str) -> Iterator[_Bar | None]:
    """A transient rich bar (None when bars() is False: the caller logs lines instead)."""
    if not bars():
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console(), transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))
