"""The VAE -> SAE flow on the tiny debug data: caching, refresh, retries, errors, tracking."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from alchemi_core.errors import DataError
from flows.vae_sae import main, vae_then_sae_flow
from tests.flows.conftest import task_runs

VAE = ["vae.train", "vae.checkpoint", "vae.validate", "vae.extract"]
SAE = ["sae.train", "sae.checkpoint", "sae.validate", "sae.predict", "sae.report"]


def states(result: dict, names: list[str]) -> set[str]:
    return {result["states"][n] for n in names}


def test_rerun_cached_and_only_changed_steps_rerun(make_pipeline, tmp_path):
    path = make_pipeline(mlflow=True)
    first = vae_then_sae_flow(str(path))
    assert states(first, VAE + SAE) == {"Completed"}
    assert np.load(first["predict"]["path"]).shape[0] == first["predict"]["rows"] == 34

    again = vae_then_sae_flow(str(path))
    assert states(again, VAE + SAE) == {"Cached"}
    assert again["sae"] == first["sae"] and again["embeddings"] == first["embeddings"]

    # The SAE run is linked to its VAE run and the embeddings it trained on.
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    tags = client.get_run(first["sae"]["mlflow_run_id"]).data.tags
    assert tags["alchemi.vae_run_id"] == first["vae"]["mlflow_run_id"]
    assert tags["alchemi.embeddings.train.sha256"] == first["embeddings"]["train"]["sha256"]
    assert set(first["links"]) == {"vae", "sae"}
    # The latent report of the test split: in the run folder and the SAE's MLflow run.
    page = Path(first["files"]["latent report"])
    assert page.name == "report.html" and page.parent.name == "latent_report_test"
    logged = client.list_artifacts(first["sae"]["mlflow_run_id"], "sae_report")
    assert {Path(a.path).name for a in logged} == {"latents.csv", "report.html"}

    # Only an SAE hyperparameter changes: the VAE steps stay cached.
    changed = make_pipeline(mlflow=True, sae={"train__optimizer_config__learning_rate": 0.01})
    third = vae_then_sae_flow(str(changed))
    assert states(third, VAE) == {"Cached"}
    assert states(third, SAE) == {"Completed"}


def test_summary_artifact(make_pipeline):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    result = vae_then_sae_flow(str(make_pipeline()))
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[result["flow_run_id"]])
            )
        )
    (art,) = [a for a in arts if a.key == "vae-sae-summary"]
    assert "| vae | train | Completed |" in art.data and "sae" in art.data
    assert result["sae"]["run_dir"] in art.data
    assert "## SAE latents" in art.data and "| sae | report | Completed |" in art.data


def test_changed_input_byte_reruns_everything(make_pipeline, tmp_path):
    path = make_pipeline()
    vae_then_sae_flow(str(path))
    csv = tmp_path / "data" / "train.csv"
    lines = csv.read_text().splitlines()
    head, first_row = lines[0], lines[1].split(",")
    first_row[0] = str(float(first_row[0]) + 0.5)  # one value of one row
    csv.write_text("\n".join([head, ",".join(first_row), *lines[2:]]) + "\n")
    result = vae_then_sae_flow(str(path))
    assert states(result, ["vae.train", "vae.checkpoint", "vae.validate", "vae.extract"]) == {
        "Completed"
    }
    assert states(result, ["sae.train", "sae.validate", "sae.predict"]) == {"Completed"}


def test_deleted_or_altered_artifact_is_recomputed(make_pipeline):
    path = make_pipeline()
    first = vae_then_sae_flow(str(path))
    Path(first["embeddings"]["val"]["path"]).unlink()
    ckpt = Path(first["sae"]["last_checkpoint"])
    ckpt.write_bytes(ckpt.read_bytes()[:-10] + b"0123456789")  # altered, same size

    result = vae_then_sae_flow(str(path))
    assert result["states"]["vae.train"] == "Cached"
    assert result["states"]["vae.extract"] == "Completed"  # embeddings missing -> recomputed
    assert result["states"]["sae.train"] == "Completed"  # checkpoint altered -> retrained
    assert result["sae"]["resumed_from_epoch"] is None  # from scratch, not from a bad file
    assert Path(first["embeddings"]["val"]["path"]).is_file()
    assert result["embeddings"] == first["embeddings"]  # deterministic: same bytes again


def test_refresh_reruns_every_step(make_pipeline):
    path = make_pipeline()
    first = vae_then_sae_flow(str(path))
    result = vae_then_sae_flow(str(path), refresh=True)
    assert states(result, VAE + SAE) == {"Completed"}
    assert result["vae"]["status"] == "finished"  # trained again, not "already_finished"
    assert result["vae"]["epochs_run"] == 3
    assert result["embeddings"] == first["embeddings"]


def test_missing_data_file_fails_before_any_task(make_pipeline, tmp_path, capsys):
    """The flow's pre-flight reads every input's header first: no task runs at all."""
    path = make_pipeline(vae={"train__data_path": str(tmp_path / "missing.csv")})
    before = len(task_runs())
    with pytest.raises(DataError, match="missing.csv"):
        vae_then_sae_flow(str(path))
    assert len(task_runs()) == before
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "missing.csv" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_user_error_fails_at_once_without_retry(make_pipeline, tmp_path, capsys):
    """A value only a full read finds (an infinite number) fails its task once, not retried."""
    bad = tmp_path / "bad.csv"
    lines = (tmp_path / "data" / "train.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("bill_length_mm")] = "inf"
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    path = make_pipeline(vae={"train__data_path": str(bad)})
    with pytest.raises(DataError, match="bad.csv"):
        vae_then_sae_flow(str(path))
    for _ in range(50):  # the Failed state may reach the API a moment after the flow raised
        failed = [r for r in task_runs() if r.state and str(bad) in (r.state.message or "")]
        if failed:
            break
        time.sleep(0.2)
    (train,) = failed
    assert train.name == "vae: train VAE debug" and train.state.name == "Failed"
    assert train.run_count == 1  # not retried
    # The CLI shows the same one line and exits 2.
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "bad.csv" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_bad_pipeline_config_exits_2_before_running(make_pipeline, capsys):
    path = make_pipeline(sae={"train__epochs": 0})
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {path}: sae.train.epochs: Input should be greater than 0 (got 0)"


def test_transient_failure_retried_and_resumes_from_checkpoint(make_pipeline, tmp_path):
    marker = tmp_path / "failed-once"
    loss = {"class": "FlakyVAELoss", "params": {"marker": str(marker), "fail_at_epoch": 2}}
    path = make_pipeline(vae={"imports": ["tests.flows.flaky_loss"], "train__loss": loss})
    result = vae_then_sae_flow(str(path))
    assert marker.exists()  # the first attempt failed at the start of epoch 2 ...
    assert result["vae"]["resumed_from_epoch"] == 1  # ... and the retry resumed after epoch 1
    assert result["vae"]["status"] == "finished"
    lines = (Path(result["vae"]["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    trains = [r for r in task_runs(result["flow_run_id"]) if ": train " in r.name]
    assert sorted(r.run_count for r in trains) == [1, 2]  # VAE retried once, SAE ran once
