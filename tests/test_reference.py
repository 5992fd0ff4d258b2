"""The config reference's complete examples, verbatim (tests/reference/*.yaml: only the device and
the extraction/prediction checkpoint path changed), trained, extracted and predicted on generated
data with the reference's own column names, under the one debug overlay (tests/shipped.py).

Example 1 -> VAE with input_dim 784, credentials, 4 workers; Example 3 -> the debug VAE, whose
checkpoint the extraction and prediction examples read (their columns are Example 3's); Example 2
-> the SAE on the extracted embeddings; the Adam/SGD blocks and the beta sweep snippets on
Example 3.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from alchemi_core import api
from alchemi_core.config.loading import read_yaml
from tests.shipped import cwd, training_overlay

REF = Path(__file__).parent / "reference"
ROWS = {"train": 300, "val": 64, "test": 48}
CATS = {
    "channel": ["online", "store", "mobile"],
    "merchant_type": ["restaurant", "retail", "service", "travel"],
}

pytestmark = pytest.mark.slow


def write_data(root: Path) -> None:
    """./data/{train,val,test}.csv and ./data/cardinalities.json, as the reference names them."""
    rng = np.random.default_rng(0)
    (root / "data").mkdir()
    for split, n in ROWS.items():
        amount = rng.normal(size=n)
        pd.DataFrame(
            {
                "log_amount_normalized": amount,
                "distance_km": np.abs(amount * 3 + rng.normal(size=n)),
                "transaction_hour": rng.integers(0, 24, size=n).astype(float),
                **{c: rng.choice(v, size=n) for c, v in CATS.items()},
            }
        ).to_csv(root / "data" / f"{split}.csv", index=False)
    cards = {c: {v: i for i, v in enumerate(vals)} for c, vals in CATS.items()}
    (root / "data" / "cardinalities.json").write_text(json.dumps(cards))


@pytest.fixture(scope="module")
def ws(tmp_path_factory, _mlflow_template_db):
    root = tmp_path_factory.mktemp("reference")
    write_data(root)
    for path in REF.glob("*.yaml"):
        shutil.copy(path, root / path.name)
    shutil.copy(_mlflow_template_db, root / "mlflow.db")
    with cwd(root):
        yield root


def train(ws: Path, name: str, data: dict | None = None):
    """Train reference file `name` (or `data` written there) under the debug overlay."""
    path = ws / name
    if data is not None:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    raw = read_yaml(path)
    result = api.train(path, training_overlay(raw, f"sqlite:///{ws / 'mlflow.db'}"))
    assert result.status == "finished"
    return result


@pytest.fixture(scope="module")
def example3(ws):
    return train(ws, "example3_debug.yaml")


@pytest.fixture(scope="module")
def example1(ws):
    return train(ws, "example1_vae.yaml")


@pytest.fixture(scope="module")
def extracted(ws, example1, example3):
    """Extraction writes into ./experiments/vae/baseline: Example 1's run folder, trained first."""
    return api.extract(ws / "extract.yaml")


def test_example3_debug_saves_only_last(ws, example3):
    ckpts = ws / "experiments/vae/debug/checkpoints"
    assert (ckpts / "last_model.pt").is_file() and not (ckpts / "best_model.pt").exists()
    assert np.isfinite(example3.metrics["val_loss"])


def test_extraction_example_writes_each_split(ws, extracted):
    out = ws / "experiments/vae/baseline/embeddings"
    for split, n in ROWS.items():
        arr = np.load(out / f"{split}_embeddings.npy")
        assert arr.shape == (n, 32) and np.isfinite(arr).all()  # Example 3's latent_dim
        assert Path(extracted[split]["path"]).resolve() == (out / f"{split}_embeddings.npy")


def test_example2_sae_trains_on_the_extracted_embeddings(ws, extracted):
    result = train(ws, "example2_sae.yaml")
    assert Path(result.best_checkpoint).name == "best_model.pt"
    ckpt = torch.load(result.best_checkpoint, weights_only=True)
    assert ckpt["model_class"] == "SAE" and ckpt["model_params"]["input_dim"] == 32
    assert result.mlflow_run_id  # tracked (in the overlay's SQLite store)


def test_prediction_example_writes_rows_and_metrics(ws, example1, example3):
    result = api.predict(ws / "predict.yaml")
    pred = np.load(ws / "experiments/vae/baseline/predictions/test_predictions.npy")
    assert result["rows"] == ROWS["test"] == pred.shape[0]
    assert np.isfinite(result["metrics"]["loss"])


def test_example1_vae_with_input_dim_784_and_credentials(ws, example1):
    result = example1
    ckpt = torch.load(result.best_checkpoint, weights_only=True)
    assert ckpt["model_params"]["input_dim"] == 784
    assert ckpt["model_state"]["encoder.0.weight"].shape == (256, 784)
    assert result.epochs_run == 5  # val.frequency 5: the overlay keeps one validation
    saved = (Path(result.run_dir) / "config.yaml").read_text()
    assert "pass" not in yaml.safe_load(saved)["mlflow"]["credentials"].values()


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("optimizer_adam.yaml", {"eps": 1e-08, "betas": [0.9, 0.999], "amsgrad": False}),
        ("optimizer_sgd.yaml", {"momentum": 0.9, "nesterov": True, "lr": 0.01}),
    ],
)
def test_optimizer_blocks(ws, block, expected):
    cfg = read_yaml(ws / "example3_debug.yaml")
    cfg["train"].update(read_yaml(ws / block))
    cfg["experiment"]["name"] = f"debug_{block.split('_')[1].split('.')[0]}"
    result = train(ws, f"run_{block}", cfg)
    group = torch.load(result.last_checkpoint, weights_only=True)["optimizer_state"]
    group = group["param_groups"][0]
    assert group["weight_decay"] == 0.0001
    for key, value in expected.items():
        got = list(group[key]) if isinstance(value, list) else group[key]
        assert got == value, key


@pytest.mark.parametrize("beta", ["0.5", "1.0", "2.0"])
def test_sweep_snippets_one_config_per_value(ws, beta):
    snippet = read_yaml(ws / f"sweep_beta_{beta}.yaml")
    cfg = read_yaml(ws / "example3_debug.yaml")
    cfg["experiment"].update(snippet["experiment"])
    cfg["train"]["loss"]["params"].update(snippet["loss"]["params"])
    result = train(ws, f"run_beta_{beta}.yaml", cfg)
    assert result.run_dir.endswith(f"experiments/vae_sweep/beta_{beta}")
    saved = yaml.safe_load((Path(result.run_dir) / "config.yaml").read_text())
    assert saved["train"]["loss"]["params"]["beta"] == float(beta)
