"""Extraction, prediction and evaluation from checkpoints, on the real penguins data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from alchemi_core import api, cli
from alchemi_core.config.schema import DataConfig, TrainingConfig
from alchemi_core.errors import CheckpointError, ConfigError, DataError
from alchemi_core.io import file_sha256
from alchemi_core.tabular.loader import TabularDataLoader
from tests.conftest import ROOT


def shipped(rel: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / rel).read_text())


def repoint(cfg: dict, data_dir: Path, out_dir: Path) -> dict:
    """Point a shipped penguins config's data at data_dir and its outputs under out_dir."""
    if cfg["data"].get("cardinalities_path"):
        cfg["data"]["cardinalities_path"] = str(data_dir / "cardinalities.json")
    for split in ("train", "val", "test"):
        if split in cfg:
            cfg[split]["data_path"] = str(data_dir / Path(cfg[split]["data_path"]).name)
            if "output" in cfg[split]:
                cfg[split]["output"] = str(out_dir / Path(cfg[split]["output"]).name)
    return cfg


@pytest.fixture
def extract_cfg(vae_run, penguins_dir, tmp_path) -> dict:
    cfg = repoint(shipped("extract/penguins_debug.yaml"), penguins_dir, tmp_path / "emb")
    cfg["checkpoint"]["path"] = str(vae_run / "checkpoints")
    return cfg


@pytest.fixture
def predict_cfg(vae_run, penguins_dir, tmp_path) -> dict:
    cfg = repoint(shipped("predict/penguins_debug_vae.yaml"), penguins_dir, tmp_path / "pred")
    cfg["checkpoint"]["path"] = str(vae_run / "checkpoints")
    return cfg


def whole_table_embeddings(ckpt: str | Path, data_dir: Path) -> np.ndarray:
    """model.embed over the whole test table in one call: the reference for row order."""
    model, _ = api.load_model(ckpt)
    data = DataConfig.model_validate(shipped("extract/penguins_debug.yaml")["data"])
    data.cardinalities_path = str(data_dir / "cardinalities.json")
    loader = TabularDataLoader(str(data_dir / "test.csv"), data, batch_size=1, shuffle=False)
    return model.embed(loader.tensors).numpy()


# -- load strategies ------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "name", "epoch"), [
    ("best", "best_model.pt", None),
    ("last", "last_model.pt", 3),
    ("epoch_1", "epoch_1.pt", 1),
    ("epoch_2", "epoch_2.pt", 2),
])  # fmt: skip
def test_each_load_strategy_loads_its_checkpoint(
    extract_cfg, vae_run, penguins_dir, strategy, name, epoch
):
    extract_cfg["checkpoint"]["load_strategy"] = strategy
    out = api.extract(extract_cfg)
    side = json.loads(Path(out["test"]["sidecar"]).read_text())
    ckpt = vae_run / "checkpoints" / name
    assert Path(side["checkpoint"]) == ckpt and side["load_strategy"] == strategy
    assert side["checkpoint_sha256"] == file_sha256(ckpt)
    if epoch is not None:
        assert side["checkpoint_epoch"] == epoch
    got = np.load(out["test"]["path"])
    np.testing.assert_allclose(got, whole_table_embeddings(ckpt, penguins_dir), rtol=0, atol=1e-6)


def test_epochs_give_different_embeddings(extract_cfg):
    runs = []
    for strategy in ("epoch_1", "epoch_3"):
        extract_cfg["checkpoint"]["load_strategy"] = strategy
        runs.append(np.load(api.extract(extract_cfg)["train"]["path"]))
    assert not np.allclose(*runs)


def test_missing_epoch_names_what_exists(extract_cfg):
    extract_cfg["checkpoint"]["load_strategy"] = "epoch_9"
    with pytest.raises(
        CheckpointError, match=r"no epoch_9\.pt in .*checkpoints; found: best_model\.pt"
    ):
        api.extract(extract_cfg)


def test_checkpoint_path_may_be_a_file(extract_cfg, vae_run):
    extract_cfg["checkpoint"]["path"] = str(vae_run / "checkpoints" / "epoch_2.pt")
    extract_cfg["checkpoint"]["load_strategy"] = "last"  # a file is taken as given
    side = json.loads(Path(api.extract(extract_cfg)["val"]["sidecar"]).read_text())
    assert side["checkpoint"].endswith("epoch_2.pt")


# -- errors ------------------------------------------------------------------------------
def test_model_class_mismatch_is_one_line_exit_2(extract_cfg, tmp_path, capsys):
    extract_cfg["model"]["class"] = "SAE"
    path = tmp_path / "extract.yaml"
    path.write_text(yaml.safe_dump(extract_cfg))
    assert cli.main(["extract", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: model.class: 'SAE' does not match the checkpoint ")
    assert "last_model.pt, which holds a 'VAE' model" in err and "\n" not in err
    assert not (tmp_path / "emb").exists()


def test_data_columns_must_match_the_checkpoint(extract_cfg):
    extract_cfg["data"]["columns"]["numerical"] = ["bill_length_mm", "bill_depth_mm"]
    with pytest.raises(DataError, match="numerical .* differs from the checkpoint's") as exc:
        api.extract(extract_cfg)
    assert exc.value.key == "data.columns.numerical"


def test_bad_split_writes_nothing(extract_cfg, tmp_path):
    extract_cfg["test"]["data_path"] = str(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="table file not found"):
        api.extract(extract_cfg)
    assert not (tmp_path / "emb").exists()


@pytest.mark.parametrize(("change", "key", "message"), [
    (("checkpoint", "load_strategy", "epoch_0"), "checkpoint.load_strategy", "use best, last"),
    (("model", "params", {"latent_dim": 4}), "model.params", "unknown key"),
    (("train", "output", "emb.csv"), "train.output", "must end in .npy"),
    (("train", "epochs", 3), "train.epochs", "unknown key"),
])  # fmt: skip
def test_extract_config_is_strict(extract_cfg, change, key, message):
    section, field, value = change
    extract_cfg[section][field] = value
    with pytest.raises(ConfigError, match=message) as exc:
        api.extract(extract_cfg, source="x.yaml")
    assert exc.value.file == "x.yaml" and exc.value.key == key


def test_extract_needs_a_split(extract_cfg):
    for split in ("train", "val", "test"):
        del extract_cfg[split]
    with pytest.raises(ConfigError, match="give at least one of train, val, test"):
        api.extract(extract_cfg)


# -- row order, determinism, sidecar -------------------------------------------------------
def test_rows_stay_in_input_order_even_with_shuffle(extract_cfg, vae_run, penguins_dir, caplog):
    params = extract_cfg["test"]["loader_params"]
    params.update(shuffle=True, batch_size=5, num_batches_per_epoch=2)
    logger = logging.getLogger("alchemi")  # the CLI may have turned propagation off
    logger.addHandler(caplog.handler)
    try:
        got = np.load(api.extract(extract_cfg)["test"]["path"])
    finally:
        logger.removeHandler(caplog.handler)
    assert "test.loader_params.shuffle is ignored" in caplog.text
    want = whole_table_embeddings(vae_run / "checkpoints" / "last_model.pt", penguins_dir)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_same_checkpoint_same_embeddings_twice(extract_cfg, tmp_path):
    first = api.extract(extract_cfg)
    extract_cfg["train"]["output"] = str(tmp_path / "again" / "train.npy")
    second = api.extract(extract_cfg)
    assert first["train"]["sha256"] == second["train"]["sha256"]
    assert np.array_equal(np.load(first["train"]["path"]), np.load(second["train"]["path"]))


def test_sidecar_records_what_made_the_output(extract_cfg, vae_run, penguins_dir):
    out = api.extract(extract_cfg)["val"]
    side = json.loads(Path(out["sidecar"]).read_text())
    assert Path(out["sidecar"]) == Path(out["path"]).with_suffix(".json")
    assert side["sha256"] == out["sha256"] == file_sha256(out["path"])
    assert side["input_sha256"] == file_sha256(penguins_dir / "val.csv")
    assert side["checkpoint_sha256"] == file_sha256(vae_run / "checkpoints" / "last_model.pt")
    assert side["shape"] == out["shape"] == list(np.load(out["path"]).shape)
    assert side["shape"][1] == 4  # the debug VAE's latent_dim
    assert side["model_class"] == "VAE" and side["load_strategy"] == "last"
    assert side["kind"] == "embeddings" and side["created"]


# -- prediction ----------------------------------------------------------------------------
def test_predict_with_metrics(predict_cfg, vae_run, penguins_dir, capsys):
    res = api.predict(predict_cfg)
    table = np.load(res["path"])
    side = json.loads(Path(res["sidecar"]).read_text())
    names = side["columns"]
    assert names[:4] == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert names[4:] == ["species", "species_prob", "island", "island_prob", "sex", "sex_prob"]
    assert table.shape == (res["rows"], 10) == (34, 10)
    model, _ = api.load_model(vae_run / "checkpoints", load_strategy="last")
    loader = TabularDataLoader(
        str(penguins_dir / "test.csv"),
        DataConfig.model_validate(predict_cfg["data"]),
        batch_size=1,
        shuffle=False,
    )
    with torch.inference_mode():
        out = model(loader.tensors)
    np.testing.assert_allclose(table[:, :4], out["numerical"].numpy(), atol=1e-6)
    assert np.array_equal(table[:, 4], out["categorical_logits"][0].argmax(1).numpy())
    assert np.all((table[:, 5] > 0) & (table[:, 5] <= 1))
    metrics = res["metrics"]
    assert set(metrics) >= {"loss", "kl_loss", "numerical_mse", "categorical_accuracy"}
    saved = json.loads(Path(res["metrics_path"]).read_text())
    assert res["metrics_path"].endswith("test_predictions.metrics.json")
    assert saved["metrics"] == metrics and saved["loss"]["class"] == "VAELoss"
    section = {k: predict_cfg["test"][k] for k in ("data_path", "loader_class", "loader_params")}
    ref = {"path": str(vae_run / "checkpoints"), "load_strategy": "last"}
    again = api.evaluate(ref, section, predict_cfg["data"],
                         predict_cfg["test"]["metrics"]["loss"])  # fmt: skip
    assert again == pytest.approx(metrics)
    # the metrics, computed by hand: numerical MSE of the reconstruction
    want_mse = float(((out["numerical"] - loader.tensors["numerical"]) ** 2).mean())
    assert metrics["numerical_mse"] == pytest.approx(want_mse, rel=1e-5)


def test_predict_parquet_has_named_columns_and_labels(predict_cfg, penguins_dir, tmp_path):
    predict_cfg["test"]["output"] = str(tmp_path / "pred" / "test.parquet")
    del predict_cfg["test"]["metrics"]
    res = api.predict(predict_cfg)
    assert res["metrics"] is None and res["metrics_path"] is None
    frame = pd.read_parquet(res["path"])
    assert len(frame) == 34 and list(frame.columns)[:2] == ["bill_length_mm", "bill_depth_mm"]
    cards = json.loads((penguins_dir / "cardinalities.json").read_text())
    assert set(frame["species"]) <= set(cards["species"])
    assert frame["sex_prob"].between(0, 1).all()


def test_predict_metrics_default_to_the_checkpoint_loss(predict_cfg):
    predict_cfg["test"]["metrics"] = {"compute": True}
    res = api.predict(predict_cfg)
    assert res["metrics"]["loss"] > 0
    saved = json.loads(Path(res["metrics_path"]).read_text())
    assert saved["loss"] == {
        "class": "VAELoss",
        "params": {"beta": 1.0, "reconstruction_weight": 1.0},
    }


def test_cli_predict_prints_result_json(predict_cfg, tmp_path, capsys):
    path = tmp_path / "predict.yaml"
    path.write_text(yaml.safe_dump(predict_cfg))
    out_file = tmp_path / "cli" / "p.npy"
    assert cli.main(["predict", "--config", str(path), "--set", f"test.output={out_file}"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["path"] == str(out_file) and res["metrics"]["loss"] > 0


# -- the VAE -> SAE hand-off ---------------------------------------------------------------
def test_sae_trains_on_extracted_embeddings_end_to_end(extract_cfg, penguins_dir, tmp_path):
    emb = api.extract(extract_cfg)
    sae = shipped("sae/penguins_debug.yaml")
    sae["experiment"]["output_dir"] = str(tmp_path / "sae")
    sae["train"]["data_path"], sae["val"]["data_path"] = emb["train"]["path"], emb["val"]["path"]
    result = api.train(api.as_config(sae, TrainingConfig)[0])
    run = Path(result.run_dir)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["params"]["input_dim"] == 4  # inferred from the embeddings' width
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    for split in ("train", "val"):
        for name in ("reconstruction_loss", "sparsity_loss", "l0", "dead_fraction", "fve"):
            assert np.isfinite(last[f"{split}_{name}"]), f"{split}_{name}"
    assert 0 <= last["val_dead_fraction"] <= 1 and last["val_fve"] <= 1
    # predict with the SAE on the VAE's test embeddings: reconstruction + latents, with metrics
    pred = {
        "experiment": {"name": "p", "output_dir": str(tmp_path)},
        "checkpoint": {"path": str(run / "checkpoints"), "load_strategy": "last"},
        "model": {"class": "SAE"},
        "data": sae["data"],
        "test": {
            "data_path": emb["test"]["path"],
            "loader_class": "EmbeddingDataLoader",
            "loader_params": {"batch_size": 16, "shuffle": False},
            "output": str(tmp_path / "sae_pred.parquet"),
            "metrics": {"compute": True},
        },
    }
    res = api.predict(pred)
    frame = pd.read_parquet(res["path"])
    assert list(frame.columns) == [f"reconstruction_{i}" for i in range(4)] + [
        f"latent_{j}" for j in range(8)
    ]
    assert len(frame) == 34 and (frame.filter(like="latent_") >= 0).all().all()
    assert {"fve", "dead_fraction", "l0"} <= set(res["metrics"])
    recon = frame.filter(like="reconstruction_").to_numpy()
    x = np.load(emb["test"]["path"])
    fve = 1 - ((recon - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert res["metrics"]["fve"] == pytest.approx(fve, abs=1e-4)
