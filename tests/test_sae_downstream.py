"""Everything downstream of training works for every SAE activation: the MLflow model (pytorch
and pyfunc flavours), extract (per row: the batch size does not matter), predict, and a run
killed after an epoch resuming to the same weights as an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from alchemi_core import api
from alchemi_core.tabular.batching import DataSpec
from alchemi_core.tabular.mlflow_model import columns
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a tracked training and a killed one per activation

ACTIVATIONS = {
    "relu": {},
    "topk": {"k": 2, "aux_k": 4, "dead_window": 64},
    "batchtopk": {"k": 2, "aux_k": 4},
    "jumprelu": {"threshold_init": 0.2},
}
DATA = {"embeddings": ["vae_embeddings"]}


def write_data(tmp_path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    paths = {}
    for split, rows in (("train", 160), ("val", 48), ("test", 40)):
        codes = (rng.random((rows, 12)) < 0.2) * rng.exponential(1.0, (rows, 12))
        paths[split] = str(tmp_path / f"{split}.npy")
        np.save(paths[split], (codes @ rng.normal(size=(12, 4))).astype("float32"))
    return paths


def sae_config(tmp_path, data: dict, activation: str, name: str, mlflow_uri=None) -> dict:
    cfg = yaml.safe_load((ROOT / "configs/sae/penguins_debug.yaml").read_text())
    cfg["experiment"] = {"name": name, "output_dir": str(tmp_path / "runs")}
    cfg["model"]["params"] = {"hidden_dim": 8, "activation": activation, **ACTIVATIONS[activation]}
    cfg["train"].update(data_path=data["train"], epochs=3)
    cfg["val"]["data_path"] = data["val"]
    if mlflow_uri:
        cfg["mlflow"] = {"tracking_uri": mlflow_uri, "experiment_name": "sae"}
    return cfg


def inference_config(run_dir, data: dict, batch: int, out) -> dict:
    split = {
        "loader_class": "EmbeddingDataLoader",
        "loader_params": {"batch_size": batch, "shuffle": False},
    }
    return {
        "experiment": {"name": "x", "output_dir": str(out)},
        "checkpoint": {"path": f"{run_dir}/checkpoints", "load_strategy": "last"},
        "model": {"class": "SAE"},
        "data": {"columns": DATA},
        **{
            s: {**split, "data_path": data[s], "output": str(out / f"{s}_{batch}.npy")}
            for s in ("train", "val")
        },
    }


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlflow_model_extract_and_predict(tmp_path, activation, mlflow_uri, monkeypatch):
    from alchemi_core.config.schema import TrainingConfig

    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    data = write_data(tmp_path)
    cfg = sae_config(tmp_path, data, activation, activation, mlflow_uri)
    result = api.train(api.as_config(cfg, TrainingConfig)[0])
    model, ckpt = api.load_model(result.run_dir + "/checkpoints", load_strategy="last")
    val = torch.from_numpy(np.load(data["val"]))
    with torch.no_grad():
        expected = model.embed({"embeddings": val})
    assert (expected > 0).sum(1).float().mean() > 0  # something fires
    if activation == "topk":
        assert ((expected > 0).sum(1) <= 2).all()

    # the MLflow model: both flavours give the checkpoint's latents
    client = mlflow.MlflowClient(mlflow_uri)
    uri = client.get_run(result.mlflow_run_id).data.tags["alchemi.model_uri"]
    mlflow.set_tracking_uri(mlflow_uri)
    try:
        names = columns(DataSpec.from_dict(ckpt["data_spec"]))
        frame = pd.DataFrame(val.numpy(), columns=names)
        pyfunc = mlflow.pyfunc.load_model(uri)
        with torch.no_grad():
            got = pyfunc.unwrap_python_model().module(val)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(pyfunc.predict(frame).to_numpy(), expected.numpy(), atol=1e-6)
    finally:
        mlflow.set_tracking_uri(None)

    # extract: the same latents whatever the batch size
    outs = [
        api.extract(inference_config(result.run_dir, data, b, tmp_path / "emb")) for b in (5, 512)
    ]
    small, whole = (np.load(o["val"]["path"]) for o in outs)
    np.testing.assert_allclose(small, whole, rtol=0, atol=1e-6)
    np.testing.assert_allclose(whole, expected.numpy(), atol=1e-6)

    # predict: reconstruction and latents of the test split, with whole-split metrics
    pred = {
        "experiment": {"name": "p", "output_dir": str(tmp_path)},
        "checkpoint": {"path": f"{result.run_dir}/checkpoints", "load_strategy": "last"},
        "model": {"class": "SAE"},
        "data": {"columns": DATA},
        "test": {
            "data_path": data["test"], "loader_class": "EmbeddingDataLoader",
            "loader_params": {"batch_size": 7, "shuffle": False}, "output": str(tmp_path / "pred.parquet"),
            "metrics": {"compute": True},
        },
    }  # fmt: skip
    res = api.predict(pred)
    pred_frame = pd.read_parquet(res["path"])
    assert len(pred_frame) == 40 and pred_frame.filter(like="latent_").shape[1] == 8
    x = np.load(data["test"])
    recon = pred_frame.filter(like="reconstruction_").to_numpy()
    fve = 1 - ((recon - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert res["metrics"]["fve"] == pytest.approx(fve, abs=1e-4)


def alchemi(args: list[str], failpoint: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "ALCHEMI_PLOTS": "0",
        "ALCHEMI_FAILPOINT": failpoint,
    }
    cmd = [sys.executable, "-m", "alchemi_core.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_a_killed_run_resumes_to_the_same_weights(tmp_path, activation, capsys):
    """The kill is a real process; the uninterrupted run and the resume run in this one."""
    from alchemi_core.cli import main

    data = write_data(tmp_path)
    paths = {}
    for name in ("whole", "killed"):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(sae_config(tmp_path, data, activation, name)))
    assert main(["train", "--config", str(paths["whole"])]) == 0
    killed = alchemi(["train", "--config", str(paths["killed"])], failpoint="epoch.saved:1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    capsys.readouterr()
    rc = main(["train", "--config", str(paths["killed"])])
    out, err = capsys.readouterr()
    assert rc == 0, err[-2000:]
    assert json.loads(out)["resumed_from_epoch"] == 1

    def state(name: str) -> dict:
        path = tmp_path / "runs" / name / "checkpoints" / "last_model.pt"
        return torch.load(path, weights_only=True)["model_state"]

    whole, again = state("whole"), state("killed")
    assert whole.keys() == again.keys()
    for key in whole:
        assert torch.equal(whole[key], again[key]), key
