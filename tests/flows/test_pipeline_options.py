"""Pipeline and sweep options with no flow test before: `checkpoint: epoch_N`, `predict.model:
vae`, and random search in a sweep."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alchemi_core.config.trials import load_sweep, trial_points
from flows.sweep import sweep_flow
from flows.vae_sae import vae_then_sae_flow

pytestmark = pytest.mark.slow


def test_epoch_checkpoint_feeds_the_sae_and_the_vae_predicts(make_pipeline, tmp_path):
    path = make_pipeline(
        vae={"checkpoint__save_strategy": "all"},
        checkpoint="epoch_2",
        predict={"model": "vae", "split": "test"},
    )
    out = vae_then_sae_flow(str(path))
    for split in ("train", "val", "test"):  # every embedding came from the epoch-2 checkpoint
        side = json.loads(Path(out["embeddings"][split]["sidecar"]).read_text())
        assert Path(side["checkpoint"]).name == "epoch_2.pt", split
    pred = out["predict"]
    vae_dir = Path(out["vae"]["run_dir"])
    assert Path(pred["path"]).parent == vae_dir / "predictions"
    assert pred["rows"] == len(pd.read_csv(tmp_path / "data" / "test.csv"))
    side = json.loads(Path(pred["sidecar"]).read_text())
    assert "bill_length_mm" in side["columns"] and "species_prob" in side["columns"]
    assert Path(side["checkpoint"]).name == "epoch_2.pt"  # the chosen checkpoint, as the SAE
    assert math.isfinite(pred["metrics"]["loss"])
    assert np.load(pred["path"]).shape == (pred["rows"], len(side["columns"]))


def test_random_search_sweep(make_pipeline, tmp_path):
    pipe = make_pipeline()
    sweep = tmp_path / "sweep.yaml"
    spec = {
        "pipeline": pipe.name,
        "output_dir": str(tmp_path / "sweep"),
        "random": {
            "samples": 3,
            "seed": 5,
            "params": {
                "sae.train.loss.params.sparsity_weight": {"low": 0.001, "high": 0.1, "log": True},
                "sae.model.params.hidden_dim": {"choices": [4, 6]},
            },
        },
        "objective": {"metric": "sae.fve", "direction": "max"},
        "concurrency": 2,
    }
    sweep.write_text(yaml.safe_dump(spec))
    cfg, _ = load_sweep(sweep)
    drawn = trial_points(cfg)
    assert len(drawn) == 3 and len({p["sae.train.loss.params.sparsity_weight"] for p in drawn}) == 3

    out = sweep_flow(str(sweep))
    assert [r["params"] for r in sorted(out["rows"], key=lambda r: r["trial"])] == drawn
    for row in out["rows"]:
        assert 0.001 <= row["params"]["sae.train.loss.params.sparsity_weight"] <= 0.1
        assert row["params"]["sae.model.params.hidden_dim"] in (4, 6)
    fves = [r["metrics"]["sae.fve"] for r in out["rows"]]
    assert fves == sorted(fves, reverse=True)  # ranked, best (max) first
    with open(out["csv"]) as fh:
        assert len(list(csv.DictReader(fh))) == 3
