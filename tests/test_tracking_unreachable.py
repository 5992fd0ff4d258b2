"""A tracking server that is not there at start: fail fast with one line, or train without it."""

from __future__ import annotations

import json
import time

from tests.reliability_helpers import free_port, run_cli


def test_unreachable_server_fails_fast_and_leaves_nothing(write_config, tmp_path, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = write_config(mlflow={"tracking_uri": uri, "experiment_name": "x"})
    import mlflow.tracking  # noqa: F401 - imports are not what is timed
    import torch

    import alchemi_core.api  # noqa: F401

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # its first use imports torch._dynamo
    t0 = time.monotonic()
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    elapsed = time.monotonic() - t0
    # A refused port answers at once: failing must not wait out MLflow's retries (minutes).
    assert elapsed < 5, f"took {elapsed:.1f}s to report a refused 127.0.0.1 port"
    assert rc == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: MLflow tracking server {uri} unavailable"
    )
    assert "mlflow.on_unreachable: skip" in lines[0]
    assert not (tmp_path / "out").exists()


def test_unreachable_server_with_skip_trains_without_tracking(write_config, tmp_path, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = write_config(
        mlflow={"tracking_uri": uri, "experiment_name": "x", "on_unreachable": "skip"}
    )
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 0, err
    assert "training WITHOUT tracking" in err
    result = json.loads(out)
    assert result["status"] == "finished" and result["mlflow_run_id"] is None
    assert len((tmp_path / "out" / "debug" / "metrics.jsonl").read_text().splitlines()) == 3
