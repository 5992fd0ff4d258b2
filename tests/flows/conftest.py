"""One Prefect test harness for every flow test (session scope); no heartbeats, no analytics.

Each test gets its own data copy, output folders and pipeline file, so cached results of one
test never answer another's (cache keys hold the output paths and the data's content).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Before prefect loads: quick retries, no telemetry, no network.
os.environ["ALCHEMI_RETRY_BACKOFF"] = "0.05"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402
import yaml  # noqa: E402

from tests.conftest import ROOT, debug_config_dict, set_dotted  # noqa: E402

PIPELINE = yaml.safe_load((ROOT / "configs/pipelines/penguins_debug.yaml").read_text())


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(tmp_path_factory):
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("prefect-results")
    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_LOCAL_STORAGE_PATH: storage}
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=300):
        yield


@pytest.fixture
def make_pipeline(tmp_path, penguins_dir):
    """make_pipeline(vae={...changes}, sae={...changes}, **top) -> pipeline path in tmp_path.

    Changes use __ for dots (as write_config does); `mlflow=True` tracks both runs in one
    SQLite store under tmp_path.
    """
    data = tmp_path / "data"
    if not data.exists():
        shutil.copytree(penguins_dir, data)

    def _make(name="pipeline.yaml", vae=None, sae=None, mlflow=False, **top) -> Path:
        out = tmp_path / "experiments"
        vae_cfg = debug_config_dict(data, out / "vae", **(vae or {}))
        sae_cfg = yaml.safe_load(yaml.safe_dump(PIPELINE["sae"]))
        sae_cfg["experiment"]["output_dir"] = str(out / "sae")
        set_dotted(sae_cfg, sae or {})
        if mlflow:
            track = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
            vae_cfg["mlflow"] = {**track, "experiment_name": "vae"}
            sae_cfg["mlflow"] = {**track, "experiment_name": "sae"}
        (tmp_path / "vae.yaml").write_text(yaml.safe_dump(vae_cfg, sort_keys=False))
        spec = {
            "vae": "vae.yaml",
            "sae": sae_cfg,
            "extract": {"batch_size": 256, "test_data_path": str(data / "test.csv")},
            "predict": {"model": "sae", "split": "test"},
            **top,
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return _make


def task_runs(flow_run_id=None) -> list:
    """Task runs of one flow run (or all), from the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        if flow_run_id is None:  # the newest first: the API returns a limited page
            return client.read_task_runs(sort=TaskRunSort.EXPECTED_START_TIME_DESC)
        flt = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        return client.read_task_runs(flow_run_filter=flt)
