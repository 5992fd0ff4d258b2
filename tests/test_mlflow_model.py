"""The run's final model in MLflow: logged with a signature and an input example, loadable by
the pytorch and pyfunc flavors, giving the checkpoint's outputs; registered with an alias."""

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
from alchemi_core.tabular.batching import DataSpec
from alchemi_core.tabular.mlflow_model import columns, to_batch

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
    """Validation rows as the flat frame, and the checkpoint model's embed() of them."""
    model, ckpt = api.load_model(result.best_checkpoint)
    spec = DataSpec.from_dict(ckpt["data_spec"])
    batch = next(iter(build(load_config(path), str(path)).val_loader))
    keys = [k for k in ("numerical", "categorical", "embeddings") if k in batch]
    flat = torch.cat([batch[k].float() for k in keys], dim=1)
    frame = pd.DataFrame(flat.numpy().astype(np.float32), columns=columns(spec))
    with torch.no_grad():
        expected = model.embed(batch)
    n = (len(spec.numerical), len(spec.categorical), spec.embedding_dim)
    assert torch.equal(to_batch(flat, *n)["categorical"], batch["categorical"])
    return frame, expected


def test_pytorch_and_pyfunc_round_trip(logged):
    path, result, client, uri = logged
    frame, expected = checkpoint_outputs(result, path)
    torch_model = mlflow.pytorch.load_model(uri)
    with torch.no_grad():
        got = torch_model(torch.from_numpy(frame.to_numpy()))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    pyfunc = mlflow.pyfunc.load_model(uri)
    np.testing.assert_allclose(pyfunc.predict(frame).to_numpy(), expected.numpy(), atol=1e-6)
    info = mlflow.models.get_model_info(uri)
    names = [c.name for c in info.signature.inputs.inputs]
    assert names == list(frame.columns) and "species" in names
    assert info.signature.outputs is not None
    assert info.saved_input_example_info is not None
    run = client.get_run(result.mlflow_run_id)
    model = client.get_logged_model(uri.removeprefix("models:/"))
    assert model.experiment_id == run.info.experiment_id and model.source_run_id == run.info.run_id


def test_registered_under_the_configured_name_and_alias(logged):
    _, result, client, _ = logged
    version = client.get_model_version_by_alias("penguins-vae", "candidate")
    assert version.run_id == result.mlflow_run_id
