"""A finished run whose tracking did not complete (the server went away before the end) sends
what MLflow missed when it is started again: every epoch's metrics, the best epoch's
(best_epoch, best_<metric>), the artifacts and the model, and the run ends FINISHED. For every
stack, through the one runner (MLflow on SQLite)."""

from __future__ import annotations

import json

import pytest
import yaml
from mlflow.tracking import MlflowClient

from alchemi_core.config.loading import read_yaml
from tests.conftest import ROOT, debug_config_dict
from tests.reliability_helpers import run_cli
from tests.spectral.helpers import tiny_config


def vae_case(tmp_path, penguins_dir, mlflow):
    path = tmp_path / "vae.yaml"
    path.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "runs", **mlflow)))
    return path, ["train"]


def alignment_case(tmp_path, penguins_dir, mlflow):
    sets = {"trainer.epochs": 2, **{k.replace("__", "."): v for k, v in mlflow.items()}}
    return tiny_config(tmp_path / "d", tmp_path / "runs", **sets), ["align", "train"]


def mae_case(tmp_path, penguins_dir, mlflow):
    cfg = read_yaml(ROOT / "configs/mae/synthetic_debug.yaml")
    cfg["experiment"]["output_dir"] = str(tmp_path / "runs")
    cfg["train"].update(bench_repeats=0)
    cfg["mlflow"] = mlflow["mlflow"]
    path = tmp_path / "mae.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, ["pretrain-mae"]


CASES = {"vae": vae_case, "alignment": alignment_case, "mae": mae_case}


def logged(client: MlflowClient, run_id: str) -> tuple[dict, set[str], str]:
    run = client.get_run(run_id)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    return run.data.metrics, artifacts, run.info.status


@pytest.mark.parametrize(
    "stack",
    [pytest.param("vae"), *(pytest.param(s, marks=pytest.mark.slow) for s in ("alignment", "mae"))],
)
def test_a_finished_run_sends_what_mlflow_missed(
    stack, tmp_path, penguins_dir, mlflow_uri, capsys, monkeypatch
):
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    mlflow = {"mlflow": {"tracking_uri": mlflow_uri, "experiment_name": stack}}
    cfg, command = CASES[stack](tmp_path, penguins_dir, mlflow)
    rc, _, err = run_cli([*command, "--config", cfg], capsys)
    assert rc == 0, err
    run_dir = next(p.parent for p in (tmp_path / "runs").rglob("run.json"))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["best_epoch"] is not None
    client = MlflowClient(tracking_uri=mlflow_uri)
    metrics, artifacts, _ = logged(client, info["mlflow_run_id"])
    assert "best_epoch" in metrics and any(
        k.startswith("best_") for k in metrics if k != "best_epoch"
    )

    # The same run as if the server had gone away before anything was sent: an empty run.
    empty = client.create_run(client.get_run(info["mlflow_run_id"]).info.experiment_id)
    pending = {"mlflow_run_id": empty.info.run_id, "mlflow_pending": True, "mlflow_synced_epoch": 0}
    (run_dir / "run.json").write_text(json.dumps({**info, **pending}))
    rc, _, err = run_cli([*command, "--config", cfg], capsys)
    assert rc == 0, err
    assert "sending the tracking data MLflow missed" in err

    synced, synced_artifacts, status = logged(client, empty.info.run_id)
    assert synced == metrics  # the best epoch's too, with the same values
    assert synced_artifacts == artifacts
    assert status == "FINISHED"
    assert json.loads((run_dir / "run.json").read_text())["mlflow_pending"] is False
