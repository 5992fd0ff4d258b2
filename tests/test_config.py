"""Config validation: unknown/missing keys, types, cross-field rules, --set, runtime block."""

from __future__ import annotations

import pytest
import torch
import yaml

from alchemi_core.config.loading import load_config
from alchemi_core.errors import ConfigError
from alchemi_core.runtime import resolve_runtime
from tests.conftest import debug_config_dict


@pytest.fixture
def cfg_dict(penguins_dir, tmp_path):
    return debug_config_dict(penguins_dir, tmp_path / "out")


def write(tmp_path, data, name="c.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def error_of(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return info.value


def test_unknown_key_suggests_the_right_one(tmp_path, cfg_dict):
    cfg_dict["train"]["epoch"] = cfg_dict["train"].pop("epochs")
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == "train.epoch"
    assert "unknown key" in err.message and "'epochs'" in err.message
    assert err.file.endswith("c.yaml")


def test_unknown_top_level_section(tmp_path, cfg_dict):
    cfg_dict["validation"] = {}
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == "validation" and "unknown key" in err.message


def test_missing_required_key(tmp_path, cfg_dict):
    del cfg_dict["experiment"]["output_dir"]
    err = error_of(write(tmp_path, cfg_dict))
    assert (err.key, err.message) == ("experiment.output_dir", "required key is missing")


def test_wrong_type_names_key_and_value(tmp_path, cfg_dict):
    cfg_dict["train"]["loader_params"]["batch_size"] = "big"
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == "train.loader_params.batch_size" and "'big'" in err.message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("checkpoint", "mode", "lowest"), ("checkpoint", "save_strategy", "every")],
)
def test_enums(tmp_path, cfg_dict, section, key, value):
    cfg_dict[section][key] = value
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == f"{section}.{key}"


def test_early_stopping_direction_enum(tmp_path, cfg_dict):
    cfg_dict["val"]["early_stopping"] = {"patience": 2, "metric": "val_loss", "direction": "down"}
    assert error_of(write(tmp_path, cfg_dict)).key == "val.early_stopping.direction"


def test_categorical_needs_cardinalities(tmp_path, cfg_dict):
    cfg_dict["data"]["cardinalities_path"] = None
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == "data" and "cardinalities_path" in err.message


def test_at_least_one_column_group(tmp_path, cfg_dict):
    cfg_dict["data"]["columns"] = {"numerical": [], "categorical": [], "embeddings": []}
    cfg_dict["data"]["cardinalities_path"] = None
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == "data.columns" and "non-empty" in err.message


def test_val_metric_needs_val_section(tmp_path, cfg_dict):
    del cfg_dict["val"]
    err = error_of(write(tmp_path, cfg_dict))
    assert err.key == "checkpoint.metric" and "val section" in err.message


def test_metric_must_be_a_logged_name(tmp_path, cfg_dict):
    cfg_dict["checkpoint"]["metric"] = "accuracy"
    assert error_of(write(tmp_path, cfg_dict)).key == "checkpoint.metric"


def test_set_overrides_are_validated(tmp_path, cfg_dict):
    path = write(tmp_path, cfg_dict)
    cfg = load_config(path, ["train.epochs=7", "train.optimizer_config.weight_decay=0.01"])
    assert cfg.train.epochs == 7
    assert cfg.train.optimizer_config.model_extra == {"weight_decay": 0.01}
    err = error_of(path, ["train.epochs=-1"])
    assert err.key == "train.epochs"
    err = error_of(path, ["train.epoch=5"])
    assert err.file == "--set train.epoch=5" and "did you mean 'epochs'" in err.message


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("experiment:\n  name: [unclosed\n")
    err = error_of(p)
    assert err.key.startswith("line ") and "invalid YAML" in err.message


def test_unsafe_experiment_name(tmp_path, cfg_dict):
    cfg_dict["experiment"]["name"] = "../escape"
    assert error_of(write(tmp_path, cfg_dict)).key == "experiment.name"


# -- runtime block and seed precedence -------------------------------------------------------


def runtime_of(tmp_path, cfg_dict, cli_seed=None):
    return resolve_runtime(load_config(write(tmp_path, cfg_dict)), cli_seed)


def test_seed_precedence(tmp_path, cfg_dict):
    cfg_dict["global"] = {"seed": 1}
    cfg_dict["experiment"]["seed"] = 2
    cfg_dict["train"]["seed"] = 3
    assert runtime_of(tmp_path, cfg_dict, cli_seed=0).seed == 0
    rt = runtime_of(tmp_path, cfg_dict)
    assert (rt.seed, rt.seed_source) == (1, "global.seed")
    del cfg_dict["global"]
    assert runtime_of(tmp_path, cfg_dict).seed == 2
    del cfg_dict["experiment"]["seed"]
    rt = runtime_of(tmp_path, cfg_dict)
    assert (rt.seed, rt.seed_source) == (3, "train.seed")  # legacy key still honoured
    del cfg_dict["train"]["seed"]
    assert runtime_of(tmp_path, cfg_dict).seed_source == "default"


def test_global_defaults_and_auto_device(tmp_path, cfg_dict):
    cfg_dict.pop("global", None)
    cfg_dict["experiment"].pop("device", None)
    rt = runtime_of(tmp_path, cfg_dict)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert (rt.device.type, rt.dtype, rt.amp_dtype, rt.deterministic) == (
        expected,
        torch.float32,
        None,
        False,
    )


def test_global_dtype_and_amp(tmp_path, cfg_dict):
    cfg_dict["global"] = {"dtype": "float64", "amp_dtype": "bf16", "device": "cpu"}
    rt = runtime_of(tmp_path, cfg_dict)
    assert (rt.dtype, rt.amp_dtype) == (torch.float64, torch.bfloat16)


def test_fp16_autocast_refused_on_cpu(tmp_path, cfg_dict):
    cfg_dict["global"] = {"amp_dtype": "fp16", "device": "cpu"}
    with pytest.raises(ConfigError, match="fp16 autocast"):
        runtime_of(tmp_path, cfg_dict)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_requested_without_gpu_is_a_config_error(tmp_path, cfg_dict):
    cfg_dict["global"] = {"device": "cuda:0"}
    with pytest.raises(ConfigError, match="CUDA is not available"):
        runtime_of(tmp_path, cfg_dict)


def test_bad_device_string(tmp_path, cfg_dict):
    cfg_dict["experiment"]["device"] = "gpu"
    assert error_of(write(tmp_path, cfg_dict)).key == "experiment.device"
