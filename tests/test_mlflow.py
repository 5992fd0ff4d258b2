"""MLflow logging through the tracker, against a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from alchemi_core import api

CANARY = "pw-canary-8c1e55"


def train_logged(write_config, mlflow_uri, tmp_path, **changes):
    mlflow = {
        "tracking_uri": mlflow_uri,
        "experiment_name": "exp",
        "credentials": {"username": "alice", "password": CANARY},
    }
    cfg = write_config(mlflow=mlflow, checkpoint__save_strategy="best", **changes)
    return api.train(cfg), MlflowClient(tracking_uri=mlflow_uri)


def test_params_metrics_and_artifacts(write_config, mlflow_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    result, client = train_logged(write_config, mlflow_uri, tmp_path)
    run = client.get_run(result.mlflow_run_id)
    info = json.loads((tmp_path / "out/debug/run.json").read_text())
    assert info["mlflow_run_id"] == result.mlflow_run_id  # the run id is kept in the output dir
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["train.optimizer_config.optimizer"] == "Adam" and p["global.seed"] == "7"
    assert p["model.params.input_dim"] == "10"
    assert CANARY not in json.dumps(p) and CANARY not in json.dumps(run.data.tags)
    assert run.data.tags["alchemi.device"] == "cpu"
    history = client.get_metric_history(result.mlflow_run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert {"train_loss", "lr", "epoch", "train_kl_loss"} <= set(run.data.metrics)
    names = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"config.yaml", "metrics.jsonl", "curves.png", "checkpoints"} <= names
    ckpts = {a.path for a in client.list_artifacts(result.mlflow_run_id, "checkpoints")}
    assert ckpts == {"checkpoints/best_model.pt"}
    local = client.download_artifacts(result.mlflow_run_id, "config.yaml", str(tmp_path))
    text = Path(local).read_text()
    assert "alice" in text and CANARY not in text


def test_credentials_from_environment(write_config, mlflow_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", CANARY)
    cfg = write_config(mlflow={"tracking_uri": mlflow_uri, "experiment_name": "exp"})
    result = api.train(cfg)
    assert result.mlflow_run_id
    assert CANARY not in (tmp_path / "out/debug/config.yaml").read_text()


def test_rerun_of_a_finished_run_keeps_the_same_mlflow_run(write_config, mlflow_uri, tmp_path):
    first, client = train_logged(write_config, mlflow_uri, tmp_path)
    second, _ = train_logged(write_config, mlflow_uri, tmp_path)
    assert second.status == "already_finished"
    assert second.mlflow_run_id == first.mlflow_run_id
    assert len(client.search_runs([client.get_experiment_by_name("exp").experiment_id])) == 1
