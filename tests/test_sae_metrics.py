"""The SAE's validation metrics do not depend on the evaluation batch size, for every activation:
the same training, scored with validation batches of 7 and of 500 rows, gives the same metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT

ACTIVATIONS = {
    "relu": {},
    "topk": {"k": 3, "aux_k": 4, "dead_window": 200},
    "batchtopk": {"k": 3, "aux_k": 4},
    "jumprelu": {"threshold_init": 0.2},
}


def sae_config(tmp_path, name: str, params: dict, val_batch: int) -> dict:
    rng = np.random.default_rng(0)
    for split, rows in (("train", 300), ("val", 131)):
        path = tmp_path / f"{split}.npy"
        if not path.exists():
            codes = (rng.random((rows, 16)) < 0.15) * rng.exponential(1.0, (rows, 16))
            np.save(path, (codes @ rng.normal(size=(16, 6))).astype("float32"))
    cfg = yaml.safe_load((ROOT / "configs/sae/penguins_debug.yaml").read_text())
    cfg["experiment"] = {"name": name, "output_dir": str(tmp_path / "runs")}
    cfg["model"]["params"] = {"hidden_dim": 16, **params}
    cfg["train"]["data_path"] = str(tmp_path / "train.npy")
    cfg["train"]["epochs"] = 2
    cfg["val"]["data_path"] = str(tmp_path / "val.npy")
    cfg["val"]["loader_params"]["batch_size"] = val_batch
    return cfg


def last_metrics(tmp_path, name: str) -> dict:
    lines = (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_validation_metrics_do_not_depend_on_the_batch_size(tmp_path, activation):
    from alchemi_core import api
    from alchemi_core.config.schema import TrainingConfig

    params = {"activation": activation, **ACTIVATIONS[activation]}
    for name, batch in (("small", 7), ("whole", 500)):
        cfg = sae_config(tmp_path, name, params, batch)
        api.train(api.as_config(cfg, TrainingConfig)[0])
    small, whole = last_metrics(tmp_path, "small"), last_metrics(tmp_path, "whole")
    keys = [k for k in whole if k.startswith("val_")]
    assert {"val_fve", "val_nmse", "val_l0", "val_dead_fraction", "val_dense_fraction"} <= set(keys)
    for key in keys:
        assert small[key] == pytest.approx(whole[key], rel=1e-5, abs=1e-6), key
    assert 0 < whole["val_fve"] <= 1 and whole["val_fve"] == pytest.approx(1 - whole["val_nmse"])
    if activation in ("topk", "batchtopk"):
        assert "train_aux_loss" in whole and "train_dead_window_fraction" in whole
