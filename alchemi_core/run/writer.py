"""The epoch-end writes of a run, off the training thread, in order.

An epoch hands its writes (metrics.jsonl, checkpoint, tracker, run.json) over as one job with
a snapshot of every state; one thread runs the jobs in the order given, so a kill between any
two writes leaves what a synchronous run would have left. At most one epoch's writes wait
(the next epoch-end blocks until the one before is on disk), and the first failure is raised
on the training thread at its next epoch-end or at `wait`. A kill can thus lose the writes of
the epoch in flight (the run resumes, exactly, from the checkpoint before). With a fail point
set (faults.py) the writes run inline, so a crash test kills at the same place every time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import torch


def snapshot(obj: Any) -> Any:
    """A copy of nested dicts/lists of tensors that training can no longer change."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(snapshot(v) for v in obj)
    return obj


class Writer:
    def __init__(self, background: bool = True):
        self.background = background
        self.jobs: queue.Queue = queue.Queue(maxsize=1)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def submit(self, job: Callable[[], None]) -> None:
        self.raise_error()
        if not self.background:
            job()
            return
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="alchemi-writer", daemon=True)
            self.thread.start()
        self.jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                if self.error is None:  # after a failure, later writes would not be in order
                    job()
            except BaseException as exc:  # noqa: BLE001  (raised on the training thread)
                self.error = exc
            finally:
                self.jobs.task_done()

    def wait(self, raise_error: bool = True) -> None:
        """Every submitted write done; the thread stopped. Raises the first failure."""
        if self.thread is not None:
            self.jobs.put(None)
            self.thread.join()
            self.thread = None
        if raise_error:
            self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            exc, self.error = self.error, None
            raise exc
