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
        tags=["alchemi", "gpu"] if gpu else ["alchemi"],
        **retry_options(retries),
    )
