"""Shared helpers for the reliability tests (resume, bad input, secrets, outages)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch

from alchemi_core import cli

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """alchemi_core.cli.main in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def alchemi(args: list, cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """A real `alchemi` process (python -m alchemi_core.cli), the repo importable (tests.*)."""
    return subprocess.run(
        [sys.executable, "-m", "alchemi_core.cli", *map(str, args)],
        cwd=cwd,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=kw.pop("timeout", 300),
        **kw,
    )


def subprocess_env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("ALCHEMI_FAILPOINT", None)
    env.update(extra or {})
    return env


def assert_same_state(a, b, where: str = "") -> None:
    """Nested dicts/lists of tensors and numbers: exactly equal (bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"tensors differ at {where}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {where}: {set(a) ^ set(b)}"
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def mlflow_run(uri: str, run_id: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client, client.get_run(run_id)


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 (sqlite backend), with basic auth when `password`
    is given (admin user); stop() kills its process group, start() again reuses port and DB."""

    def __init__(self, base: Path, password: str | None = None):
        self.base = base
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.password = password
        self.proc: subprocess.Popen | None = None
        base.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 120) -> float:
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", "1"]
        cmd += ["--backend-store-uri", f"sqlite:///{self.base}/mlflow.db"]
        cmd += ["--artifacts-destination", str(self.base / "artifacts")]
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", OMP_NUM_THREADS="1")
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no huey job workers
        for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
            env.pop(k, None)
        if self.password:
            ini = self.base / "basic_auth.ini"
            ini.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{self.base}/basic_auth.db\nadmin_username = admin\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            )
            cmd += ["--app-name", "basic-auth"]
            env.update(
                MLFLOW_AUTH_CONFIG_PATH=str(ini),
                MLFLOW_AUTH_ADMIN_PASSWORD=self.password,
                MLFLOW_FLASK_SERVER_SECRET_KEY="test-only-csrf-key",
            )
        log = open(self.base / "server.log", "ab")  # noqa: SIM115  (owned by the process)
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        while time.monotonic() - t0 < timeout:
            assert self.proc.poll() is None, (self.base / "server.log").read_text()[-3000:]
            if self.healthy():
                return time.monotonic() - t0
            time.sleep(0.2)
        raise TimeoutError("mlflow server did not become healthy")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
