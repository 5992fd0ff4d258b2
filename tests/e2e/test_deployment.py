"""End to end: a real Prefect server, `prefect deploy` from deployments/prefect.yaml, a process
worker on gpu-pool, and a deployment run of the VAE -> SAE flow on the tiny debug pipeline."""

from __future__ import annotations

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


def test_deployment_run_of_vae_sae_flow_completes(tmp_path, pipeline):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = server_env(tmp_path, port)
    server = start(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "server.log",
    )
    worker = None
    try:
        wait_healthy(api, server)
        made = run([PREFECT, "work-pool", "create", "gpu-pool", "--type", "process"], env, 120)
        assert made.returncode == 0, made.stdout + made.stderr
        deployed = run(
            [
                PREFECT,
                "--no-prompt",
                "deploy",
                "--all",
                "--prefect-file",
                "deployments/prefect.yaml",
            ],
            env,
            300,
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        for name in ("vae-sae-nightly", "sweep", "train"):
            assert name in deployed.stdout
        worker = start(
            [PREFECT, "worker", "start", "--pool", "gpu-pool"], env, tmp_path / "worker.log"
        )
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
        if worker is not None:
            stop(worker)
        stop(server)
