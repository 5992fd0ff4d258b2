"""The one decorator every alchemi step uses: step cache, transient retries, persisted results."""

from __future__ import annotations

import threading
from collections.abc import Callable

from prefect import task

from tasks.caching import Describe, StepCache, shared_storage
from tasks.retry import retry_options

GPU = "gpu"
GPU_STEPS: set[str] = set()  # names of the steps that may want a GPU slot
_limits: dict[str, frozenset[str]] = {}  # flow run id -> tags that have a concurrency limit
_lock = threading.Lock()


def step(name: str, describe: Describe, retries: int = 3, gpu: bool = True) -> Callable:
    if gpu:
        GPU_STEPS.add(name)
    return task(
        name=name,
        cache_policy=StepCache(describe=describe),
        persist_result=True,
        result_storage=shared_storage(),
        **retry_options(retries),
    )


def limit_tags() -> frozenset[str]:
    """Tags with a concurrency limit on the server: one API call per flow run."""
    from prefect import runtime
    from prefect.client.orchestration import get_client

    run = str(runtime.flow_run.id or "")
    with _lock:
        if run not in _limits:
            try:
                with get_client(sync_client=True) as client:
                    found = client.read_concurrency_limits(limit=200, offset=0)
                tags = frozenset(limit.tag for limit in found)
            except Exception:  # noqa: BLE001 - cannot tell: tag, so an existing limit holds
                tags = frozenset({GPU})
            _limits.clear()
            _limits[run] = tags
        return _limits[run]


def limited(task_):
    """The step tagged `gpu` when it is a GPU step and a `gpu` limit exists
    (`prefect concurrency-limit create gpu 1`), else as it is. Prefect asks the API for a slot
    before every tagged task run starts; with no limit that request is pure overhead (0.01-2 s,
    the most when the server is busy writing the run's events)."""
    if task_.name in GPU_STEPS and GPU in limit_tags():
        return task_.with_options(tags={GPU})
    return task_
