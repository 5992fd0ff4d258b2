"""The one decorator every alchemi step uses: step cache, transient retries, persisted results."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task

from tasks.caching import Describe, StepCache, shared_storage
from tasks.retry import retry_options


def step(name: str, describe: Describe, retries: int = 3, gpu: bool = True) -> Callable:
    return task(
        name=name,
        cache_policy=StepCache(describe=describe),
        persist_result=True,
        result_storage=shared_storage(),
        # Prefect asks the API for a concurrency slot for every tagged task run (~0.1-0.3 s
        # each); only GPU steps need one (`prefect concurrency-limit create gpu 1`).
        tags=["alchemi", "gpu"] if gpu else [],
        **retry_options(retries),
    )
