"""End to end: a real Prefect server, `prefect deploy` from deployments/prefect.yaml, process
workers on gpu-pool: a deployment run of the VAE -> SAE flow on the tiny debug pipeline, and a
sweep whose trials are runs of the sweep-trial deployment on two workers. One server, pool and
`prefect deploy --all` serve both tests (each test starts its own workers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, debug_config_dict

pytestmark = pytest.mark.slow
PREFECT = str(Path(sys.executable).with_name("prefect"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp_path: Path, port: int, **extra: str) -> dict:
    """The environment of a test's own `prefect server`, its workers and its CLI calls."""
    return {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",  # worker logs reach the file before a SIGKILL
        "PREFECT_CLI_PROMPT": "false",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout}s")


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:  # the worker ignores SIGTERM here: kill its process group
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def run(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def pipeline(tmp_path, penguins_dir) -> Path:
    """The debug pipeline with absolute paths (the flow runs in the repository root)."""
    spec = yaml.safe_load((ROOT / "configs/pipelines/penguins_debug.yaml").read_text())
    vae = debug_config_dict(penguins_dir, tmp_path / "out" / "vae")
    spec["vae"] = vae
    spec["sae"]["experiment"]["output_dir"] = str(tmp_path / "out" / "sae")
    spec["extract"]["test_data_path"] = str(penguins_dir / "test.csv")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A running `prefect server`, gpu-pool made, every deployment of deployments/prefect.yaml
    deployed: (the environment of its CLI calls and workers, `prefect deploy`'s output)."""
    base = tmp_path_factory.mktemp("prefect_server")
    port = free_port()
    env = server_env(base, port)
    server = start(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        base / "server.log",
    )
    try:
        wait_healthy(env["PREFECT_API_URL"], server)
        made = run([PREFECT, "work-pool", "create", "gpu-pool", "--type", "process"], env, 120)
        assert made.returncode == 0, made.stdout + made.stderr
        deploy = [PREFECT, "--no-prompt", "deploy", "--all"]
        done = run([*deploy, "--prefect-file", "deployments/prefect.yaml"], env, 300)
        assert done.returncode == 0, done.stdout + done.stderr
        yield env, done.stdout
    finally:
        stop(server)


def test_deployment_run_of_vae_sae_flow_completes(tmp_path, pipeline, deployed):
    env, deploy_output = deployed
    for name in ("vae-sae-nightly", "sweep", "sweep-trial", "train"):
        assert name in deploy_output
    worker = start([PREFECT, "worker", "start", "--pool", "gpu-pool"], env, tmp_path / "worker.log")
    try:
        ran = run(
            [
                PREFECT,
                "deployment",
                "run",
                "vae-then-sae/vae-sae-nightly",
                "--param",
                f"config={pipeline}",
                "--watch",
                "--watch-timeout",
                "400",
            ],
            env,
            450,
        )
        log = (tmp_path / "worker.log").read_text()[-3000:]
        assert ran.returncode == 0, ran.stdout + ran.stderr + log
        assert "Completed" in ran.stdout, ran.stdout + log
        preds = tmp_path / "out" / "sae" / "debug" / "predictions" / "test_predictions.npy"
        assert np.load(preds).shape[0] == 34
    finally:
        stop(worker)


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


def test_sweep_trials_run_as_deployment_runs_on_two_workers(tmp_path, penguins_dir, deployed):
    """A sweep with `executor: {kind: deployment}`: each trial is a run of the sweep-trial
    deployment, picked up by two process workers on gpu-pool (one run at a time each), so the
    two trials with different VAEs run at once on different workers."""
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
    # ALCHEMI_CACHE_STORAGE: what every worker mounts
    env = {**deployed[0], "ALCHEMI_CACHE_STORAGE": str(tmp_path / "cache")}
    workers = []
    try:
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

    out = json.loads(swept.stdout[swept.stdout.index("{") :])
    assert out["trials"] == 2 and {r["status"] for r in out["rows"]} == {"ok"}
    assert len({r["vae_run_dir"] for r in out["rows"]}) == 2
    # Both trials ran as flow runs of the sweep-trial deployment, which only the pool's two
    # workers execute (each one run at a time: --limit 1); the server says both completed.
    # Which worker took which run is Prefect's choice, and worker logs are not asserted on.
    assert json.loads(listed.stdout.strip().splitlines()[-1]) == ["COMPLETED", "COMPLETED"]
