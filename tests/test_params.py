"""Typed params of registered classes, checked when the config loads, before any data is read.

Every config here points at data files that do not exist: the params error must come first.
"""

from __future__ import annotations

import pytest
import yaml

from alchemi_core.cli import main
from alchemi_core.config.loading import set_dotted
from alchemi_core.registry import Params, Registry
from tests.conftest import debug_config_dict

# (dotted key, value, key path in the error, words in the message); the VAE debug config.
BAD_VAE = [
    ("model.params.hidden_dims", [-5], "model.params.hidden_dims.0", "greater than 0"),
    ("model.params.hidden_dims", [32, 0], "model.params.hidden_dims.1", "greater than 0"),
    ("model.params.hidden_dims", "32", "model.params.hidden_dims", "list"),
    ("model.params.latent_dim", 0, "model.params.latent_dim", "greater than 0"),
    ("model.params.latent_dim", -3, "model.params.latent_dim", "greater than 0"),
    ("model.params.latent_dim", "8", "model.params.latent_dim", "integer"),
    ("model.params.latent_dim", 2.5, "model.params.latent_dim", "integer"),
    ("model.params.latent_dim", None, "model.params.latent_dim", "integer"),
    ("model.params.latent_dim", True, "model.params.latent_dim", "integer"),
    ("model.params.input_dim", 0, "model.params.input_dim", "greater than 0"),
    ("model.params.cat_embedding_dim", -1, "model.params.cat_embedding_dim", "greater than 0"),
    ("model.params.latnt_dim", 4, "model.params.latnt_dim", "did you mean 'latent_dim'"),
    ("train.loss.params.beta", -1.0, "train.loss.params.beta", "greater than or equal to 0"),
    ("train.loss.params.beta", ".nan", "train.loss.params.beta", "finite"),
    ("train.loss.params.beta", "high", "train.loss.params.beta", "number"),
    (
        "val.loss.params.reconstruction_weight",
        -0.5,
        "val.loss.params.reconstruction_weight",
        "greater than or equal to 0",
    ),
    ("val.loss.params.betta", 1.0, "val.loss.params.betta", "did you mean 'beta'"),
    ("train.loader_params.batch_size", 0, "train.loader_params.batch_size", "greater than 0"),
    ("val.loader_params.batch_size", -4, "val.loader_params.batch_size", "greater than 0"),
    (
        "train.loader_params.num_workers",
        -1,
        "train.loader_params.num_workers",
        "greater than or equal to 0",
    ),
    (
        "train.loader_params.num_batches_per_epoch",
        0,
        "train.loader_params.num_batches_per_epoch",
        "greater than 0",
    ),
    ("train.loader_params.shuffle", "sometimes", "train.loader_params.shuffle", "bool"),
    (
        "train.loader_params.drop_lst",
        True,
        "train.loader_params.drop_lst",
        "did you mean 'drop_last'",
    ),
    (
        "train.optimizer_config.learning_rate",
        0,
        "train.optimizer_config.learning_rate",
        "greater than 0",
    ),
    ("train.optimizer_config.betas", [1.5, 0.9], "train.optimizer_config", "beta"),
    ("train.optimizer_config.eps", "tiny", "train.optimizer_config", ""),
    ("train.optimizer_config.momentm", 0.9, "train.optimizer_config.momentm", "unknown"),
    (
        "mlflow",
        {"tracking_uri": "ftp://host", "experiment_name": "x"},
        "mlflow.tracking_uri",
        "unsupported tracking URI scheme 'ftp'",
    ),
]

BAD_SAE = [
    ("model.params.hidden_dim", 0, "model.params.hidden_dim", "greater than 0"),
    (
        "model.params.sparsity_weight",
        -0.1,
        "model.params.sparsity_weight",
        "greater than or equal to 0",
    ),
    ("model.params.input_dim", -8, "model.params.input_dim", "greater than 0"),
    (
        "train.loss.params.sparsity_weight",
        -0.01,
        "train.loss.params.sparsity_weight",
        "greater than or equal to 0",
    ),
    (
        "train.loss.params.sparsity",
        0.1,
        "train.loss.params.sparsity",
        "did you mean 'sparsity_weight'",
    ),
]


def _set(cfg: dict, dotted: str, value) -> dict:
    set_dotted(cfg, dotted, value)
    return cfg


def _vae(tmp_path) -> dict:
    return debug_config_dict(tmp_path / "no_data", tmp_path / "out")  # data never written


def _sae(tmp_path) -> dict:
    cfg = yaml.safe_load(open("configs/sae/penguins_debug.yaml").read())
    for split in ("train", "val"):
        cfg[split]["data_path"] = str(tmp_path / "no_data" / f"{split}.npy")
    cfg["experiment"]["output_dir"] = str(tmp_path / "out")
    return cfg


def _run(tmp_path, cfg, capsys, *cmd) -> tuple[int, str]:
    path = tmp_path / "cfg.yaml"
    raw = yaml.safe_dump(cfg, sort_keys=False).replace("'.nan'", ".nan")
    path.write_text(raw)
    code = main([*cmd, str(path)] if cmd[0] == "config" else [*cmd, "--config", str(path)])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize(("dotted", "value", "key", "words"), BAD_VAE, ids=lambda v: str(v)[:40])
def test_bad_vae_param_is_caught_at_load(tmp_path, capsys, dotted, value, key, words):
    code, err = _run(tmp_path, _set(_vae(tmp_path), dotted, value), capsys, "train")
    assert code == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith(f"error: {tmp_path / 'cfg.yaml'}: {key}: "), err
    assert words in err
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize(("dotted", "value", "key", "words"), BAD_SAE, ids=lambda v: str(v)[:40])
def test_bad_sae_param_is_caught_at_load(tmp_path, capsys, dotted, value, key, words):
    code, err = _run(tmp_path, _set(_sae(tmp_path), dotted, value), capsys, "train")
    assert code == 2, err
    assert err.startswith(f"error: {tmp_path / 'cfg.yaml'}: {key}: ") and words in err, err


def test_validate_command_catches_the_same(tmp_path, capsys):
    cfg = _set(_vae(tmp_path), "model.params.hidden_dims", [-5])
    code, err = _run(tmp_path, cfg, capsys, "config", "validate")
    assert code == 2 and ": model.params.hidden_dims.0: " in err


def test_unsupported_params_message_lists_accepted(tmp_path, capsys):
    code, err = _run(tmp_path, _set(_vae(tmp_path), "model.params.depth", 3), capsys, "train")
    assert code == 2
    assert "unknown parameter" in err and "accepted: latent_dim, hidden_dims" in err


@pytest.mark.parametrize(
    "uri",
    [
        "./mlruns",
        "file:./mlruns",
        "sqlite:///x.db",
        "http://127.0.0.1:5000",
        "https://m.example",
        "databricks",
        "postgresql://u@h/db",
        "postgresql+psycopg2://h/db",
        "mysql+pymysql://h/db",
        "mssql+pyodbc://h/db",
        "C:\\mlruns",
    ],
)
def test_supported_tracking_uris_load(uri):
    from alchemi_core.config.schema import MLflowConfig

    assert MLflowConfig(tracking_uri=uri, experiment_name="x").tracking_uri == uri


@pytest.mark.parametrize("uri", ["ftp://host", "s3://bucket/x", "gopher://h"])
def test_unsupported_tracking_uri_is_a_config_error(uri):
    from pydantic import ValidationError

    from alchemi_core.config.schema import MLflowConfig

    with pytest.raises(ValidationError, match="unsupported tracking URI scheme"):
        MLflowConfig(tracking_uri=uri, experiment_name="x")


def test_plugin_params_model_is_checked(tmp_path, capsys):
    cfg = _vae(tmp_path)
    cfg.update(imports=["tests.plugins.my_models"])
    cfg["model"] = {"class": "TinyAutoencoder", "params": {"bottleneck": 0}}
    code, err = _run(tmp_path, cfg, capsys, "train")
    assert code == 2 and ": model.params.bottleneck: " in err and "greater than 0" in err


def test_plugin_without_params_model_uses_its_signature(tmp_path, capsys):
    cfg = _vae(tmp_path)
    cfg.update(imports=["tests.plugins.my_models"])
    cfg["model"] = {"class": "BrokenModel", "params": {"input_dimm": 3}}
    code, err = _run(tmp_path, cfg, capsys, "train")
    assert code == 2 and ": model.params.input_dimm: " in err and "'input_dim'" in err


def test_registry_keeps_the_params_model():
    reg = Registry("thing")

    class P(Params):
        size: int = 1

    @reg.register("T", params=P)
    class T:
        pass

    assert reg.get("T") is T and reg.params("T") is P
    assert reg.register("T")(T) is T and reg.params("T") is P  # re-registering keeps it
