"""Where a sweep's trials run: a task runner (threads or Dask), or runs of a deployment.

Dask: `executor: {kind: dask, address: tcp://scheduler:8786}` sends every step to that cluster
(no address: a temporary in-process cluster of `concurrency` workers). Deployment:
`executor: {kind: deployment}` starts one run of `sweep-trial/sweep-trial` per trial on its work
pool, so N workers run N trials at once. Trials that share a VAE are dispatched in two waves:
first one trial per distinct VAE, then the rest, which find that VAE in the shared cache.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from alchemi_core.config import sweep as sw
from alchemi_core.config import trials as tr
from alchemi_core.errors import ConfigError
from alchemi_core.io import canonical_json

POLL_SECONDS = 2.0


def task_runner(cfg: sw.SweepConfig) -> TaskRunner:
    if cfg.executor.kind != "dask":
        return ThreadPoolTaskRunner(max_workers=cfg.concurrency)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise ConfigError(
            "kind 'dask' needs prefect-dask: pip install 'alchemi[dask]'", "", "executor.kind"
        ) from exc
    if cfg.executor.address:
        return DaskTaskRunner(address=cfg.executor.address)
    local = {"n_workers": cfg.concurrency, "processes": False, "threads_per_worker": 1}
    return DaskTaskRunner(cluster_kwargs=local)


def row_path(cfg: sw.SweepConfig, trial: str) -> Path:
    """Where a deployment run of one trial leaves its row (the sweep's output folder)."""
    return Path(cfg.output_dir) / "trials" / f"{trial}.json"


def waves(trials: list[tr.Trial]) -> list[list[tr.Trial]]:
    first: dict[str, tr.Trial] = {}
    for t in trials:
        first.setdefault(canonical_json(t.pipeline.vae_dict()), t)
    rest = [t for t in trials if t not in first.values()]
    return [list(first.values()), rest] if rest else [list(first.values())]


def wait_final(flow_run_id, timeout: float | None) -> Any:
    deadline = None if timeout is None else time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run.state
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"flow run {flow_run_id} not finished after {timeout}s")
            time.sleep(POLL_SECONDS)


def on_deployment(
    config: str,
    cfg: sw.SweepConfig,
    trials: list[tr.Trial],
    refresh: bool,
    failed_row: Callable[[tr.Trial, BaseException], dict],
) -> list[dict]:
    """One deployment run per trial (all of a wave at once); their rows, failed ones marked."""
    rows = []
    for wave in waves(trials):
        started = []
        for t in wave:
            row_path(cfg, t.name).unlink(missing_ok=True)
            params = {"config": config, "trial": t.name, "refresh": refresh}
            run = run_deployment(cfg.executor.deployment, parameters=params, timeout=0)
            started.append((t, run.id))
        for t, run_id in started:
            try:
                state = wait_final(run_id, cfg.executor.timeout)
                if not state.is_completed():
                    raise RuntimeError(f"trial run {state.name}: {state.message or ''}".strip())
                rows.append(json.loads(row_path(cfg, t.name).read_text()))
            except Exception as exc:
                rows.append(failed_row(t, exc))
    return rows
