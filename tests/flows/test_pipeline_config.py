"""Pipeline and sweep configs are validated like every other config (no Prefect needed)."""

from __future__ import annotations

import pytest
import yaml

from alchemi_core.config.pipeline import load_pipeline
from alchemi_core.config.steps import fill_sae
from alchemi_core.config.trials import load_sweep
from alchemi_core.errors import ConfigError
from tests.conftest import ROOT


def write(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_pipelines_and_sweeps_validate():
    for path in sorted((ROOT / "configs/pipelines").glob("*.yaml")):
        load_pipeline(path)
    for path in sorted((ROOT / "configs/sweeps").glob("*.yaml")):
        cfg, trials = load_sweep(path)
        assert trials


def test_unknown_top_level_key(make_pipeline, tmp_path):
    path = make_pipeline(extrakt={"batch_size": 1})
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    assert err.value.line() == f"{path}: extrakt: unknown key (did you mean 'extract'?)"


def test_inline_sae_error_names_the_key_from_the_top(make_pipeline):
    path = make_pipeline(sae={"model__class": "SAE", "train__loader_params__batch_size": 0})
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    assert err.value.key == "sae.train.loader_params.batch_size"


def test_vae_file_errors_name_that_file(make_pipeline, tmp_path):
    path = make_pipeline(vae={"train__epochs": "many"})
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    assert err.value.file == str(tmp_path / "vae.yaml") and err.value.key == "train.epochs"


def test_missing_vae_file(tmp_path):
    path = write(tmp_path / "p.yaml", {"vae": "nope.yaml", "sae": "nope.yaml"})
    with pytest.raises(ConfigError, match="config file not found") as err:
        load_pipeline(path)
    assert err.value.key == "vae"


def test_predict_test_split_needs_test_data(make_pipeline):
    path = make_pipeline(extract={"batch_size": 8})
    with pytest.raises(ConfigError, match="test_data_path"):
        load_pipeline(path)


def test_sae_data_paths_and_input_dim_come_from_embeddings(make_pipeline):
    pipe = load_pipeline(make_pipeline())
    emb = {s: {"path": f"/e/{s}.npy", "shape": [10, 4]} for s in ("train", "val")}
    cfg = fill_sae(pipe.sae, emb)
    assert cfg["train"]["data_path"] == "/e/train.npy" and cfg["val"]["data_path"] == "/e/val.npy"
    assert cfg["model"]["params"]["input_dim"] == 4
    pipe.sae["model"]["params"]["input_dim"] = 3
    with pytest.raises(ConfigError, match="embedding width 4"):
        fill_sae(pipe.sae, emb)


def sweep(tmp_path, pipe, **changes):
    data = {
        "pipeline": str(pipe),
        "output_dir": str(tmp_path / "sw"),
        "grid": {"sae.model.params.hidden_dim": [4, 8]},
        **changes,
    }
    return write(tmp_path / "sweep.yaml", data)


def test_sweep_grid_and_seeded_random(make_pipeline, tmp_path):
    pipe = make_pipeline()
    rnd = {
        "samples": 3,
        "seed": 5,
        "params": {
            "sae.train.optimizer_config.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            "vae.model.params.latent_dim": {"choices": [2, 3]},
        },
    }
    _, trials = load_sweep(sweep(tmp_path, pipe, random=rnd))
    assert len(trials) == 6
    _, again = load_sweep(tmp_path / "sweep.yaml")
    assert [t.params for t in trials] == [t.params for t in again]  # same seed, same trials
    lrs = [t.params["sae.train.optimizer_config.learning_rate"] for t in trials]
    assert all(1e-4 <= lr <= 1e-2 for lr in lrs) and len(set(lrs)) == 6
    for t in trials:  # the override reached the config, and names follow the parameters
        assert t.pipeline.vae.model.params["latent_dim"] == t.params["vae.model.params.latent_dim"]
    assert len({t.pipeline.sae["experiment"]["name"] for t in trials}) == 6


@pytest.mark.parametrize(
    "changes, key, message",
    [
        ({"grid": {"model.params.hidden_dim": [4]}}, "grid", "under vae. or sae."),
        ({"grid": {}}, None, "give a grid, random sampling, or both"),
        ({"objective": {"metric": "loss"}}, "objective.metric", "name a stage's"),
        ({"grid": {"sae.model.paramz.hidden_dim": [4]}}, "sae.model.paramz", "unknown key"),
        ({"concurrency": 0}, "concurrency", "greater than 0"),
    ],
)
def test_sweep_errors(make_pipeline, tmp_path, changes, key, message):
    with pytest.raises(ConfigError) as err:
        load_sweep(sweep(tmp_path, make_pipeline(), **changes))
    assert err.value.file == str(tmp_path / "sweep.yaml")
    assert err.value.key == key and message in err.value.message


# -- cross-stage checks, at load ------------------------------------------------------------
NO_VAE_VAL = {"val": None, "checkpoint__metric": "train_loss"}


def _error(path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    return err.value


def test_sae_val_needs_a_vae_val_section(make_pipeline):
    err = _error(make_pipeline(vae=NO_VAE_VAL))
    assert err.key == "sae.val" and "VAE config has no val section" in err.message


def test_predict_split_must_exist(make_pipeline):
    path = make_pipeline(
        vae=NO_VAE_VAL,
        sae={"val": None, "checkpoint__metric": "train_loss"},
        predict={"model": "vae", "split": "val"},
    )
    err = _error(path)
    assert err.key == "predict.split" and "'val' does not exist" in err.message


@pytest.mark.parametrize(
    ("strategy", "chosen", "words"),
    [
        ("best", "last", "is not saved"),
        ("last", "best", "is not saved"),
        ("best", "epoch_2", "is not saved"),
        ("all", "epoch_9", "past the VAE's last epoch"),
    ],
)
def test_pipeline_checkpoint_must_be_one_the_vae_saves(make_pipeline, strategy, chosen, words):
    err = _error(make_pipeline(vae={"checkpoint__save_strategy": strategy}, checkpoint=chosen))
    assert err.key == "checkpoint" and words in err.message


@pytest.mark.parametrize("chosen", ["epoch_3", "best", "last"])
def test_pipeline_checkpoint_saved_by_all(make_pipeline, chosen):
    load_pipeline(make_pipeline(vae={"checkpoint__save_strategy": "all"}, checkpoint=chosen))


@pytest.mark.parametrize(
    ("metric", "ok"),
    [
        ("sae.fve", True),
        ("sae.loss", True),
        ("vae.kl_loss", True),
        ("sae.fvee", False),
        ("vae.l0", False),
    ],
)
def test_sweep_objective_must_be_a_logged_metric(make_pipeline, tmp_path, metric, ok):
    pipe = make_pipeline()
    sweep = write(
        tmp_path / "s.yaml",
        {
            "pipeline": pipe.name,
            "output_dir": "o",
            "grid": {"sae.model.params.hidden_dim": [4]},
            "objective": {"metric": metric},
        },
    )
    if ok:
        load_sweep(sweep)
        return
    with pytest.raises(ConfigError) as err:
        load_sweep(sweep)
    assert err.value.key == "objective.metric" and "is not a metric the" in err.value.message
    if metric == "sae.fvee":
        assert "did you mean 'sae.fve'" in err.value.message
