"""A re-run where nothing changed is answered from the step cache (flows/cached.py) without a
Prefect flow run; anything changed runs the flow. GPU steps ask for a slot only under a limit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flows.cached import answer as cached_answer
from flows.cli import FROM_CACHE
from flows.vae_sae import main, outcome, vae_then_sae_flow
from tests.flows.conftest import task_runs


def answer(config: str):
    return cached_answer(config, outcome)


def flow_run_count() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def run_cli(capsys, *args: str) -> tuple[dict, str]:
    assert main(["--json", *args]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


@pytest.mark.slow  # two flow runs with MLflow on the debug data
def test_nothing_changed_answers_from_the_cache_without_a_flow_run(make_pipeline, capsys):
    path = str(make_pipeline(mlflow=True))
    first, err = run_cli(capsys, "--config", path)
    assert first["flow_run_id"] and FROM_CACHE not in err  # nothing cached yet: a flow run

    recorded, err = run_cli(capsys, "--config", path, "--record")  # forced through Prefect
    assert recorded["flow_run_id"] and set(recorded["states"].values()) == {"Cached"}

    runs = flow_run_count()
    fast, err = run_cli(capsys, "--config", path)
    assert flow_run_count() == runs  # no flow run created
    assert FROM_CACHE in err and fast["flow_run_id"] is None
    assert fast == {**recorded, "flow_run_id": None}  # the same result, the same shape
    assert set(fast["links"]) == {"vae", "sae"}  # the MLflow link step was read too

    assert main(["--config", path]) == 0  # the summary for people says so, and has no run id
    out = capsys.readouterr().out
    assert FROM_CACHE in out and "Prefect flow run:" not in out and "sae " in out


def test_changed_config_input_or_output_is_not_answered_from_the_cache(
    make_pipeline, tmp_path, capsys
):
    path = make_pipeline()
    first = vae_then_sae_flow(str(path))
    cached = answer(str(path))
    assert cached == {**first, "flow_run_id": None, "states": cached["states"]}
    assert set(cached["states"].values()) == {"Cached"}

    # One SAE value changed: a new key for the SAE steps, so no answer from the cache.
    changed = make_pipeline("changed.yaml", sae={"train__optimizer_config__learning_rate": 0.01})
    assert answer(str(changed)) is None
    assert answer(str(path)) is not None  # the original is still all cached

    # The last step's output altered (no later key sees it): its record is not used.
    predictions = Path(first["predict"]["path"])
    saved = predictions.read_bytes()
    predictions.write_bytes(saved[:-4] + b"\x00\x00\x00\x01")
    assert answer(str(path)) is None
    predictions.write_bytes(saved)
    assert answer(str(path)) is not None

    # One byte of the input data changed: the command runs the flow.
    csv = tmp_path / "data" / "train.csv"
    head, row, *rest = csv.read_text().splitlines()
    row = [str(float(row.split(",")[0]) + 0.5), *row.split(",")[1:]]  # one value of one row
    csv.write_text("\n".join([head, ",".join(row), *rest]) + "\n")
    assert answer(str(path)) is None
    result, err = run_cli(capsys, "--config", str(path))
    assert result["flow_run_id"] and FROM_CACHE not in err
    assert result["states"]["vae.train"] == "Completed"


def test_gpu_steps_ask_for_a_slot_only_under_a_gpu_limit(make_pipeline):
    from prefect.client.orchestration import get_client

    path = str(make_pipeline())
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag="gpu", concurrency_limit=10)
        try:
            limited = vae_then_sae_flow(path)
        finally:
            client.delete_concurrency_limit_by_tag("gpu")
    free = vae_then_sae_flow(path)

    def tags(flow_run_id: str) -> dict[str, list[str]]:
        for _ in range(100):  # the API records task runs from their events, a moment later
            runs = [r for r in task_runs(flow_run_id) if ":" in r.name]
            if len(runs) == 8:
                break
            time.sleep(0.2)
        return {r.name.split(" ", 2)[1]: r.tags for r in runs}

    with_limit, without = tags(limited["flow_run_id"]), tags(free["flow_run_id"])
    assert with_limit["train"] == ["gpu"] and with_limit["checkpoint"] == []
    assert with_limit["extract"] == ["gpu"] and with_limit["predict"] == ["gpu"]
    assert set(without) == set(with_limit) and all(t == [] for t in without.values())


def servers_of(home: Path) -> list[int]:
    """Pids of Prefect API servers running with PREFECT_HOME=home."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"prefect.server.api.server:create_app" in cmd
            and f"PREFECT_HOME={home}".encode() in env
        ):
            found.append(int(proc.name))
    return found


@pytest.mark.slow  # two processes, one of them starts Prefect's temporary API
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_command_line_without_a_server(make_pipeline, tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    path = make_pipeline()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "PREFECT_LOGGING_LEVEL": "INFO"}
    cmd = [sys.executable, str(ROOT / "flows/vae_sae.py"), "--config", str(path)]
    first = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Prefect flow run:" in first.stdout and FROM_CACHE not in first.stdout
    # the temporary API is gone at the end: no "View at" link to it, but how to see the run
    assert "View at" not in first.stdout + first.stderr
    assert "(to see it: prefect server start, then http://127.0.0.1:4200/runs)" in first.stdout
    assert servers_of(tmp_path / "home") == []  # the temporary API stopped with the process

    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert FROM_CACHE in again.stdout and "Prefect flow run:" not in again.stdout
