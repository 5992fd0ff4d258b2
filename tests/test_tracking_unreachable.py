"""A tracking server that is not there at start: fail fast with one line, or train without it."""

from __future__ import annotations

import json
import time

from tests.reliability_helpers import free_port, run_cli


def test_unreachable_server_fails_fast_and_leaves_nothing(write_config, tmp_path, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = write_config(mlflow={"tracking_uri": uri, "experiment_name": "x"})
    t0 = time.monotonic()
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    print(f"failed after {time.monotonic() - t0:.2f}s")
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
