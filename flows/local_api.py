"""Prefect's temporary local API, started by the command line instead of by Prefect.

Without PREFECT_API_URL, Prefect starts this server on its first API call
(`prefect.server.api.server.SubprocessASGIServer`), after importing its whole server code into
this process just to launch it (2.2-2.5 s here). Here the same child process (same command and
environment as Prefect 3.8 uses) is launched without that import, and the flow is pointed at it
through PREFECT_API_URL. Like Prefect's, one per process, stopped at exit (after Prefect's log
and event workers have flushed). Not up within the startup timeout: StartTimeout (one line).
Anything unexpected: None, and Prefect starts its own.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from alchemi_core.errors import AlchemiError
from alchemi_core.run import stop

PORT_IN_USE = 3  # uvicorn's exit code when the port was taken meanwhile
_running: list[LocalAPI] = []
TIMEOUT_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
# Prefect's own start (server.SubprocessASGIServer.start) fails with a RuntimeError saying this
PREFECT_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"


class StartTimeout(AlchemiError):
    """The temporary API did not answer in time: what to do, in one line."""

    def __init__(self, seconds: float):
        super().__init__(
            f"the temporary Prefect API did not start within {seconds:g} s (a busy machine?): "
            f"set {TIMEOUT_SETTING} higher, or PREFECT_API_URL to a running server "
            "(`prefect server start`)"
        )


def start_error(exc: BaseException, seconds: float) -> StartTimeout | None:
    """Prefect's own failure to start its temporary API as a StartTimeout (None: another)."""
    return StartTimeout(seconds) if PREFECT_TIMEOUT in str(exc) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port: int) -> list[str]:
    """As SubprocessASGIServer._run_uvicorn_command (Prefect 3.8)."""
    app_dir = Path(importlib.util.find_spec("prefect").origin).parent.parent
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
        "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


class LocalAPI:
    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        base = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
        env = {**os.environ, **base, "PREFECT__SERVER_FINAL": "1", **env}
        # its own session: a terminal's Ctrl-C stops the flow at a checkpoint, which still
        # reports to this API (run/stop.py); it stops at exit, or before a second signal's
        self.process = subprocess.Popen(command(self.port), env=env, start_new_session=True)
        atexit.register(self.stop)  # after threading's exit hooks, where Prefect flushes
        stop.at_exit(self.stop)

    def ready(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(env: dict[str, str], timeout: float) -> LocalAPI | None:
    """A running local API (None if it would not come up: Prefect then starts its own)."""
    if _running and _running[0].process.poll() is None:
        return _running[0]
    _running.clear()
    for _ in range(3):
        try:
            api = LocalAPI(env)
        except OSError:
            return None
        if api.ready(timeout):
            _running.append(api)
            return api
        running = api.process.poll() is None
        api.stop()
        if running:  # alive but not answering: slow (a second start by Prefect would be too)
            raise StartTimeout(timeout)
        if api.process.returncode != PORT_IN_USE:
            return None
    return None
