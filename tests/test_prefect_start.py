"""Prefect's temporary API that does not start in time: one line saying so and what to do,
exit non-zero, no traceback (it was "internal error")."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, debug_config_dict
from tests.reliability_helpers import subprocess_env

SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def test_a_flow_whose_temporary_api_is_slow_says_so(tmp_path, penguins_dir):
    """The user's startup timeout (1 s, shorter than the server's imports) is kept, and its
    expiry is one line."""
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "out")))
    env = subprocess_env({"PREFECT_HOME": str(tmp_path / ".prefect"), SETTING: "1"})
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "flows/train.py"), "--config", str(path), "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: the temporary Prefect API did not start within 1 s (a busy machine?): "
        f"set {SETTING} higher, or PREFECT_API_URL to a running server (`prefect server start`)"
    ]
    assert not (tmp_path / "out").exists()  # nothing trained


def test_prefect_own_start_timeout_is_classified(tmp_path):
    """Prefect's own start (when ours did not run) fails with its RuntimeError: the same line."""
    from prefect.server.api.server import SubprocessASGIServer

    from flows import local_api

    server = SubprocessASGIServer(port=local_api.free_port())  # not the shared one (port None)
    try:
        with pytest.raises(RuntimeError) as info:
            server.start(timeout=0.05)
    finally:
        server.stop()
    slow = local_api.start_error(info.value, 0.05)
    assert slow is not None and "did not start within 0.05 s" in str(slow)
    assert local_api.start_error(RuntimeError("something else"), 1) is None
