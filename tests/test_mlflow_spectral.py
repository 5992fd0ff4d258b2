"""The final model of an alignment run and of an MAE run in MLflow: logged with a signature
and an input example, loadable by the pytorch and pyfunc flavors, giving the checkpoint's
outputs (SQLite store, real MLflow)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from alchemi_core import api
from alchemi_core.alignment import api as align_api
from alchemi_core.alignment import evaluation as ev
from alchemi_core.alignment import spectral
from alchemi_core.alignment.load import cpu_runtime, load_run
from alchemi_core.alignment.mlflow_model import band_columns, token_columns
from alchemi_core.assembly import mae_parts
from alchemi_core.config.loading import read_yaml
from alchemi_core.mae.config import MAEConfig
from alchemi_core.mae.data import load_tokens
from alchemi_core.run import checkpoints
from tests.spectral.helpers import synthetic_lab, tiny_config

pytestmark = pytest.mark.slow  # a tracked training and a model logged per test (~10 s here)
MAE_DEBUG = Path(__file__).resolve().parents[1] / "configs/mae/synthetic_debug.yaml"


def loaded_both_ways(client, run_id: str, frame: pd.DataFrame) -> tuple[torch.Tensor, np.ndarray]:
    """The run's logged model applied to `frame`, through the pytorch and pyfunc flavors;
    checks the signature names the frame's columns and the input example is saved."""
    uri = client.get_run(run_id).data.tags["alchemi.model_uri"]
    info = mlflow.models.get_model_info(uri)
    assert [c.name for c in info.signature.inputs.inputs] == list(frame.columns)
    assert info.signature.outputs is not None and info.saved_input_example_info is not None
    model = client.get_logged_model(uri.removeprefix("models:/"))
    assert model.source_run_id == run_id
    with torch.no_grad():
        got = mlflow.pytorch.load_model(uri)(torch.from_numpy(frame.to_numpy()))
    return got, mlflow.pyfunc.load_model(uri).predict(frame).to_numpy()


@pytest.fixture
def tracking(mlflow_uri, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    mlflow.set_tracking_uri(mlflow_uri)
    yield MlflowClient(tracking_uri=mlflow_uri)
    mlflow.set_tracking_uri(None)


SHIPPED_MODEL = {"cycle.prior": "gaussian", "cycle.prior_tokens": True, "model.share_encoder": True}


@pytest.mark.parametrize("model_sets", [{}, SHIPPED_MODEL], ids=["debug", "prior_tokens"])
def test_alignment_sensor_tower_round_trip_and_registration(
    tmp_path, mlflow_uri, tracking, model_sets
):
    cfg = {
        "tracking_uri": mlflow_uri,
        "experiment_name": "align",
        "register_model_name": "align-sensor",
        "register_alias": "candidate",
    }
    sets = {"trainer.epochs": 1, **model_sets}
    path = tiny_config(tmp_path / "d", tmp_path / "runs", mlflow=cfg, **sets)
    result = align_api.train(path)
    _, model, _ = load_run(result["run_dir"])
    sensor = spectral.load_sensor(tmp_path / "d/msi.csv")  # the first training sensor
    readings = torch.rand(7, len(sensor.bands), generator=torch.Generator().manual_seed(3))
    readings[1, 2] = float("nan")  # a missing band: padded, as in training
    feats = ev.band_feats(model, sensor, torch.device("cpu"))
    expected, _ = ev.embed(model, "sensor", feats, readings, cpu_runtime(), sensor=sensor)
    frame = pd.DataFrame(readings.numpy(), columns=band_columns(sensor))
    assert frame.columns[0] == "b1_490nm"
    got, predicted = loaded_both_ways(tracking, result["mlflow_run_id"], frame)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(predicted, expected.numpy(), atol=1e-5)
    version = tracking.get_model_version_by_alias("align-sensor", "candidate")
    assert version.run_id == result["mlflow_run_id"]


@pytest.mark.parametrize("data", ["synthetic", "spectra"])
def test_mae_encoder_round_trip(tmp_path, mlflow_uri, tracking, data):
    raw = read_yaml(MAE_DEBUG)
    raw["experiment"]["output_dir"] = str(tmp_path)
    raw["train"].update(bench_repeats=0, mask_ratios=[0.75])
    if data == "spectra":  # 96 usable bands (a gap dropped) -> 8 windows of 12, 4 coefficients
        synthetic_lab(64).to_csv(tmp_path / "lab.csv", index=False)
        raw["train"].update(data=str(tmp_path / "lab.csv"), num_tokens=8, token_dim=4)
    raw["mlflow"] = {"tracking_uri": mlflow_uri, "experiment_name": "mae"}
    result = api.pretrain_mae(raw, source=str(MAE_DEBUG))
    run_id = json.loads((Path(result.run_dir) / "run.json").read_text())["mlflow_run_id"]
    cfg = api.as_config(raw, MAEConfig, None, str(MAE_DEBUG))[0]
    t = cfg.train
    mae = mae_parts(cfg, cpu_runtime())[0]
    last = checkpoints.load(Path(result.run_dir) / "checkpoints/last_model.pt")
    mae.load_state_dict(last["model_state"])
    mae.eval()
    visible = torch.arange(t.num_tokens).expand(6, -1)
    if data == "spectra":  # the model takes spectra: the run's projector, fitted again here
        tokens_of = load_tokens(t, 0, str(MAE_DEBUG))
        spectra = tokens_of.eval_spectra[:6]
        names = [f"{w:g}" for w in tokens_of.wavelengths]
        assert names[:2] == ["400", "420"] and "1400" not in names and len(names) == 96
        frame = pd.DataFrame(spectra.numpy(), columns=names)
        tokens = tokens_of.projector(spectra)
    else:
        tokens = torch.randn(
            6, t.num_tokens, t.token_dim, generator=torch.Generator().manual_seed(1)
        )
        frame = pd.DataFrame(
            tokens.reshape(6, -1).numpy(), columns=token_columns(t.num_tokens, t.token_dim)
        )
    with torch.no_grad():
        expected = mae.encoder(tokens, visible).mean(1)
    got, predicted = loaded_both_ways(tracking, run_id, frame)
    assert got.shape == (6, t.embed_dim)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(predicted, expected.numpy(), atol=1e-5)
