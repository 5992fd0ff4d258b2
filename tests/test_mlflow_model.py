"""The run's final model in MLflow: logged with a typed signature and an input example,
loadable by pyfunc, taking the table's raw rows (category names, numbers as in the CSV) and
giving the checkpoint's outputs; registered with an alias."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from alchemi_core import api
from alchemi_core.assembly import build
from alchemi_core.config.loading import load_config

pytestmark = pytest.mark.slow  # a tracked training per test (about 15 s here)


@pytest.fixture
def logged(write_config, mlflow_uri, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    mlflow_cfg = {
        "tracking_uri": mlflow_uri,
        "experiment_name": "models",
        "register_model_name": "penguins-vae",
        "register_alias": "candidate",
    }
    path = write_config(mlflow=mlflow_cfg, checkpoint__save_strategy="best")
    result = api.train(path)
    client = MlflowClient(tracking_uri=mlflow_uri)
    uri = client.get_run(result.mlflow_run_id).data.tags["alchemi.model_uri"]
    mlflow.set_tracking_uri(mlflow_uri)
    yield path, result, client, uri
    mlflow.set_tracking_uri(None)


def checkpoint_outputs(result, path) -> tuple[pd.DataFrame, torch.Tensor]:
    """The validation CSV's first batch of rows as read by pandas, and the checkpoint model's
    embed() of the same rows."""
    cfg = load_config(path)
    model, _ = api.load_model(result.best_checkpoint)
    batch = next(iter(build(cfg, str(path)).val_loader))
    rows = pd.read_csv(cfg.val.data_path).head(len(batch["numerical"]))
    with torch.no_grad():
        expected = model.embed(batch)
    return rows, expected


def test_pyfunc_takes_raw_rows(logged):
    path, result, client, uri = logged
    rows, expected = checkpoint_outputs(result, path)
    assert pd.api.types.is_string_dtype(rows["species"])  # names, as in the CSV
    pyfunc = mlflow.pyfunc.load_model(uri)
    got = pyfunc.predict(rows)
    assert list(got.columns) == [f"embed_{i}" for i in range(expected.shape[1])]
    np.testing.assert_allclose(got.to_numpy(), expected.numpy(), atol=1e-5)
    # the torch module inside, on the float table of codes
    inner = pyfunc.unwrap_python_model()
    with torch.no_grad():
        torch.testing.assert_close(inner.module(inner.encode(rows)), expected, atol=1e-5, rtol=0)

    info = mlflow.models.get_model_info(uri)
    types = {c.name: c.type.name for c in info.signature.inputs.inputs}
    assert types["species"] == "string" and types["island"] == "string"
    assert types["bill_length_mm"] == "double"
    assert info.signature.outputs is not None
    assert info.saved_input_example_info is not None
    run = client.get_run(result.mlflow_run_id)
    model = client.get_logged_model(uri.removeprefix("models:/"))
    assert model.experiment_id == run.info.experiment_id and model.source_run_id == run.info.run_id


def test_unknown_category_is_a_clear_error(logged):
    path, result, _, uri = logged
    rows, _ = checkpoint_outputs(result, path)
    rows = rows.head(3).copy()
    rows.loc[rows.index[1], "island"] = "Atlantis"
    pyfunc = mlflow.pyfunc.load_model(uri)
    with pytest.raises(ValueError, match=r"column 'island': unknown category 'Atlantis' at row 1"):
        pyfunc.predict(rows)
    rows = rows.head(1).drop(columns=["sex"])
    with pytest.raises(Exception, match="sex"):
        pyfunc.predict(rows)


def test_registered_under_the_configured_name_and_alias(logged):
    _, result, client, _ = logged
    version = client.get_model_version_by_alias("penguins-vae", "candidate")
    assert version.run_id == result.mlflow_run_id
