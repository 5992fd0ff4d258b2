"""NaN/inf losses stop training with a clear error, keep the last good checkpoint, fail the run."""

from __future__ import annotations

import json
import re

import torch

from alchemi_core.run import checkpoints
from tests.reliability_helpers import mlflow_run, run_cli


def test_nan_loss_stops_keeps_checkpoint_and_fails_mlflow_run(
    write_config, mlflow_uri, tmp_path, capsys
):
    cfg = write_config(
        imports=["tests.fault_losses"],
        train__loss={"class": "NaNAtVAELoss", "params": {"nan_at": 8}},
        mlflow={"tracking_uri": mlflow_uri, "experiment_name": "nan"},
    )
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 2 and out == ""
    assert err.splitlines()[-1] == (
        f"error: {cfg}: training loss is nan at epoch 2, batch 3; stopped (the last good "
        "checkpoint is kept)"
    )
    run_dir = tmp_path / "out" / "debug"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "diverged" and "epoch 2, batch 3" in info["error"]
    ckpt = checkpoints.load(run_dir / "checkpoints" / "last_model.pt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model_state"].values())
    assert [
        json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()
    ] == [1]
    client, run = mlflow_run(mlflow_uri, info["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]


def test_exploding_learning_rate_is_reported_with_epoch_and_batch(write_config, capsys):
    cfg = write_config(
        train__optimizer_config={"optimizer": "SGD", "learning_rate": 1.0e30},
        train__epochs=3,
    )
    rc, _, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 2
    last = err.splitlines()[-1]
    assert re.fullmatch(
        rf"error: {re.escape(str(cfg))}: training loss is (nan|inf|-inf) at epoch \d, batch \d; "
        r"stopped .*",
        last,
    ), last
