"""End to end: a sweep with `executor: {kind: deployment}` against a real Prefect server; each
trial is a run of the sweep-trial deployment, picked up by two process workers on gpu-pool (one
run at a time each), so the two trials with different VAEs run at once on different workers."""

from __future__ import annotations

import json
import sys
import time

import pytest
import yaml

from tests.conftest import ROOT, debug_config_dict
from tests.e2e.test_deployment import (
    PREFECT,
    free_port,
    run,
    server_env,
    start,
    stop,
    wait_healthy,
)

pytestmark = pytest.mark.slow


# The sweep-trial deployment's flow runs and their final states, read from the server's API.
RUNS = """
import json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
name = DeploymentFilterName(any_=["sweep-trial"])
with get_client(sync_client=True) as client:
    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=name))
print(json.dumps([r.state.type.value for r in runs if r.state is not None]))
"""


def wait_started(log, proc, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while "started!" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.5)


def test_sweep_trials_run_as_deployment_runs_on_two_workers(tmp_path, penguins_dir):
    vae = debug_config_dict(penguins_dir, tmp_path / "out" / "vae", train__epochs=1)
    spec = yaml.safe_load((ROOT / "configs/pipelines/penguins_debug.yaml").read_text())
    spec["vae"] = vae
    spec["sae"]["experiment"]["output_dir"] = str(tmp_path / "out" / "sae")
    spec["sae"]["train"]["epochs"] = 1
    spec.pop("predict", None)
    spec["extract"].pop("test_data_path", None)
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "pipeline": "pipeline.yaml",
                "output_dir": str(tmp_path / "sweep"),
                "grid": {"vae.train.optimizer_config.learning_rate": [0.001, 0.01]},
                "objective": {"metric": "sae.loss", "direction": "min"},
                "executor": {"kind": "deployment", "timeout": 600},
            }
        )
    )
    port = free_port()
    # ALCHEMI_CACHE_STORAGE: what every worker mounts
    env = server_env(tmp_path, port, ALCHEMI_CACHE_STORAGE=str(tmp_path / "cache"))
    server = start(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "server.log",
    )
    workers = []
    try:
        wait_healthy(env["PREFECT_API_URL"], server)
        made = run([PREFECT, "work-pool", "create", "gpu-pool", "--type", "process"], env, 120)
        assert made.returncode == 0, made.stdout + made.stderr
        deploy = [PREFECT, "--no-prompt", "deploy", "--name", "sweep-trial"]
        deployed = run([*deploy, "--prefect-file", "deployments/prefect.yaml"], env, 300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        for i in range(2):
            cmd = [PREFECT, "worker", "start", "--pool", "gpu-pool", "--limit", "1"]
            workers.append(start([*cmd, "--name", f"gpu-{i}"], env, tmp_path / f"worker{i}.log"))
        for i in range(2):  # both workers polling before any run exists (a busy machine)
            wait_started(tmp_path / f"worker{i}.log", workers[i])
        swept = run([sys.executable, "flows/sweep.py", "--config", str(sweep), "--json"], env, 900)
        logs = "".join((tmp_path / f"worker{i}.log").read_text()[-2000:] for i in range(2))
        assert swept.returncode == 0, swept.stderr[-3000:] + logs
        listed = run([sys.executable, "-c", RUNS], env, 120)
        assert listed.returncode == 0, listed.stderr[-2000:]
    finally:
        for w in workers:
            stop(w)
        stop(server)

    out = json.loads(swept.stdout[swept.stdout.index("{") :])
    assert out["trials"] == 2 and {r["status"] for r in out["rows"]} == {"ok"}
    assert len({r["vae_run_dir"] for r in out["rows"]}) == 2
    # Both trials ran as flow runs of the sweep-trial deployment, which only the pool's two
    # workers execute (each one run at a time: --limit 1); the server says both completed.
    # Which worker took which run is Prefect's choice, and worker logs are not asserted on.
    assert json.loads(listed.stdout.strip().splitlines()[-1]) == ["COMPLETED", "COMPLETED"]
