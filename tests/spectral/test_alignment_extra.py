"""MLflow logging of an alignment run, the training augmentations, and the real-data config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from alchemi_core.alignment import api as align_api
from alchemi_core.alignment import spectral
from alchemi_core.alignment.config import load_alignment_config
from tests.spectral.helpers import ROOT, tiny_config

CANARY = "pw-canary-align-51"


def test_mlflow_params_metrics_artifacts_without_secrets(tmp_path, mlflow_uri):
    mlflow = {
        "tracking_uri": mlflow_uri,
        "experiment_name": "align",
        "credentials": {"username": "bob", "password": CANARY},
    }
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", mlflow=mlflow)
    result = align_api.train(cfg, seed=5)
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["global.seed"] == "5" and run.data.tags["alchemi.seed"] == "5"
    assert run.data.tags["alchemi.config_path"] == str(cfg)
    history = client.get_metric_history(run.info.run_id, "val_top1/unseen")
    assert [m.step for m in history] == [1, 2]
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.jsonl", "checkpoints"} <= arts
    text = json.dumps(run.data.params) + (tmp_path / "runs/align_debug/config.yaml").read_text()
    assert CANARY not in text


def test_band_dropout_and_cutoff_keep_a_band_per_row():
    torch.manual_seed(0)
    r = torch.rand(500, 6)
    centres = torch.tensor([450.0, 560.0, 660.0, 850.0, 1600.0, 2200.0])
    out = spectral.drop_bands(r, centres, 0.5, 0.0)
    missing = torch.isnan(out).float().mean().item()
    assert 0.4 < missing < 0.6 and torch.isfinite(out).any(1).all()
    kept = torch.isfinite(out)
    assert torch.equal(out[kept], r[kept])
    cut = spectral.drop_bands(r, centres, 0.0, 1.0)  # one cutoff for the batch
    lost = torch.isnan(cut).all(0)
    assert not lost[0] and torch.equal(lost, torch.sort(lost.int()).values.bool())


def test_random_sensors_are_valid_band_sets():
    gen = torch.Generator().manual_seed(0)
    wl = np.arange(400.0, 2451.0, 10.0)
    for _ in range(20):
        s = spectral.random_sensor(gen, 410, 2440)
        assert 4 <= len(s.bands) <= 24 and (np.diff(s.centres) >= 0).all()
        assert ((s.fwhms >= 5) & (s.fwhms <= 150)).all()
        assert spectral.band_matrix(s, wl).sum() > 0


@pytest.mark.slow
def test_shipped_config_runs_on_real_data(tmp_path):
    """configs/phase2/alignment.yaml on prepare-spectra's real data, cut to a few batches."""
    pytest.importorskip("earthlib")
    from alchemi_core.alignment.prepare_spectra import prepare

    written = prepare(tmp_path / "spectra")
    assert written["n_spectra"] == 7261
    assert written["sensors"]["sentinel3a_olci"]["bands"] == 21
    data = tmp_path / "spectra"
    sets = [
        f"data.lab_path={data / 'lab.parquet'}",
        f"experiment.output_dir={tmp_path / 'runs'}",
        "data.max_samples=400",
        "trainer.epochs=3",
        "trainer.val_frequency=3",
        "trainer.batches_per_epoch=2",
    ]
    cfg = load_alignment_config(ROOT / "configs/phase2/alignment.yaml", sets)
    d = cfg.data
    d.sensor_paths = [str(data / "sensors" / p.split("/")[-1]) for p in d.sensor_paths]
    d.eval_sensor_paths = [str(data / "sensors" / p.split("/")[-1]) for p in d.eval_sensor_paths]
    result = align_api.train(cfg)
    last = result["metrics"]
    for name in (
        "landsat8_oli",
        "sentinel2a_msi",
        "modis_terra",
        "sentinel3a_olci",
        "spot5_hrg",
        "rapideye",
    ):
        assert 0 <= last[f"val_top1/{name}"] <= 1
    out = align_api.evaluate(
        result["run_dir"], data / "lab.parquet", data / "sensors/sentinel3a_olci.csv", noise=0.03
    )
    assert out["n"] == 7261 and out["sensor"] == "sentinel3a_olci"
