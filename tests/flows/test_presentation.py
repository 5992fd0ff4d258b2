"""What a person sees of a flow run: the printed summary, readable run names, the summary
artifact with its pictures, the pictures in the run folders and in MLflow, a typed form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.vae_sae import main, vae_then_sae_flow
from tests.flows.conftest import task_runs


def artifacts(flow_run_id: str) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flt = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        return {a.key: a for a in client.read_artifacts(artifact_filter=flt)}


def flow_run(flow_run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


@pytest.mark.slow  # a whole VAE -> SAE flow with MLflow (about a minute here)
def test_summary_names_pictures_and_models(make_pipeline, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    path = make_pipeline(mlflow=True)
    assert main(["--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert not out.lstrip().startswith("{")  # a summary for people, not JSON
    assert "VAE -> SAE pipeline: done in" in out
    assert re.search(r"sae +.*fve=", out) and "embedding_map.png" in out
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'}" in out
    flow_run_id = re.search(r"Prefect flow run: (\S+)", out).group(1)
    # the test's server stays up while the summary is read: its link, not `prefect server start`
    assert f"/runs/flow-run/{flow_run_id}" in out and "the Prefect server these runs went to" in out

    run = flow_run(flow_run_id)
    assert run.name == "vae-sae pipeline: VAE debug -> SAE debug"
    names = {r.name for r in task_runs(flow_run_id)}
    assert {"vae: train VAE debug", "vae: validate VAE debug", "sae: train SAE debug"} <= names
    assert "vae: extract embeddings VAE debug" in names
    assert "link runs: VAE debug -> SAE debug" in names

    summary = artifacts(flow_run_id)["vae-sae-summary"].data
    assert summary.count("](data:image/png;base64,") == 4  # 2 curves, map, firing histogram
    runs = {p.parent.name: p.parent for p in tmp_path.glob("experiments/*/debug/run.json")}
    vae, sae = tmp_path / "experiments/vae/debug", tmp_path / "experiments/sae/debug"
    assert runs and (vae / "embedding_map.png").is_file() and (sae / "latent_firing.png").is_file()

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for folder, picture in ((vae, "embedding_map.png"), (sae, "latent_firing.png")):
        run_id = __import__("json").loads((folder / "run.json").read_text())["mlflow_run_id"]
        assert picture in {a.path for a in client.list_artifacts(run_id)}
        assert client.get_run(run_id).data.tags["alchemi.model_uri"].startswith("models:/")


def test_flow_parameters_are_typed_with_descriptions():
    schema = vae_then_sae_flow.parameters.model_dump()
    props = schema["properties"]
    assert props["config"]["type"] == "string" and props["config"]["description"]
    assert props["refresh"]["type"] == "boolean" and props["refresh"]["default"] is False


@pytest.mark.slow
def test_json_only_when_asked(make_pipeline, capsys):
    import json

    assert main(["--config", str(make_pipeline()), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["files"]["sae run"]).is_dir()


def test_summary_table_keeps_its_metrics_column_short():
    from flows import report

    metrics = {f"val_{k}": 0.123456 for k in ("loss", "reconstruction_loss", "kl_loss")}
    metrics |= {"val_numerical_mse": 0.01, "val_categorical_accuracy": 0.99, "val_extra": 1.5}
    row = report.step_row("vae", "train", "Completed", {"metrics": metrics, "run_dir": "r"})
    text = report.markdown("t", [row], [])
    table_row = next(line for line in text.splitlines() if line.startswith("| vae | train"))
    cell = table_row.split(" | ")[3]
    assert cell.count("=") == report.TABLE_METRICS and "val_loss=0.1235" in cell
    listed = next(line for line in text.splitlines() if line.startswith("- vae train: "))
    assert listed.count("=") == len(metrics) and "val_extra=1.5" in listed
