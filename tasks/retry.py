"""Which failures are retried: transient ones (I/O, out-of-memory, an unreachable tracker).

User errors (bad config or data) and diverged training fail at once: retrying cannot fix them.
"""

from __future__ import annotations

import os
import sys

from prefect.tasks import exponential_backoff

from alchemi_core.errors import TransientError, UserError

# Seconds before the first retry; doubles for each further retry. Tests set it to ~0.
BACKOFF_SECONDS = float(os.environ.get("ALCHEMI_RETRY_BACKOFF", "10"))
JITTER = 0.2


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, UserError):
        return False
    if isinstance(exc, TransientError | OSError):
        return True
    torch = sys.modules.get("torch")  # not loaded: the failure cannot be a torch one
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def retry_transient(task, task_run, state) -> bool:
    """Prefect's retry_condition_fn: retry only when the task failed transiently."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - the task's own exception, re-raised
        return is_transient(exc)
    return False


def retry_options(retries: int) -> dict:
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=BACKOFF_SECONDS),
        "retry_jitter_factor": JITTER,
        "retry_condition_fn": retry_transient,
    }
