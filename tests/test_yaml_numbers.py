"""YAML 1.2 numbers: `1e-08`, `5e-4`, `1E6`, `-1e3` are floats in every config kind and --set."""

from __future__ import annotations

import shutil

import pytest
import yaml

from alchemi_core.config.checks import check_training
from alchemi_core.config.kinds import kind_of
from alchemi_core.config.loading import load_config, parse_yaml
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-08", 1e-08),
        ("5e-4", 5e-4),
        ("1E6", 1e6),
        ("-1e3", -1e3),
        ("+2.5e1", 25.0),
        (".5e2", 50.0),
        ("1.0e-3", 1e-3),
    ],
)
def test_exponent_numbers_are_floats(text, value):
    got = parse_yaml(f"x: {text}")["x"]
    assert isinstance(got, float) and got == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("e5", "e5"), ("1e", "1e"), ("0.5", 0.5), ("'1e-3'", "1e-3"), ("true", True)],
)
def test_other_scalars_keep_their_meaning(text, value):
    got = parse_yaml(f"x: {text}")["x"]
    assert got == value and type(got) is type(value)


def test_training_config_with_reference_adam_block(write_config):
    path = write_config(
        train__optimizer_config={
            "optimizer": "Adam",
            "learning_rate": 0.001,
            "weight_decay": 0.0001,
            "betas": [0.9, 0.999],
            "eps": 1e-08,
            "amsgrad": False,
        },
    )
    text = path.read_text().replace("1.0e-08", "1e-08").replace("0.001", "1e-3")
    assert "eps: 1e-08" in text
    path.write_text(text)
    cfg = load_config(path, ["train.optimizer_config.weight_decay=5e-4"])
    extra = cfg.train.optimizer_config.model_extra
    assert extra["eps"] == 1e-08 and extra["weight_decay"] == 5e-4
    assert cfg.train.optimizer_config.learning_rate == 1e-3
    check_training(cfg, str(path))  # torch.optim.Adam accepts them


@pytest.mark.parametrize(
    ("rel", "old", "new", "key"),
    [
        ("extract/penguins_debug.yaml", "batch_size: 512", "batch_size: 5.12e2", "batch"),
        ("predict/penguins_debug_vae.yaml", "beta: 1.0", "beta: 1e0", "beta"),
        ("pipelines/penguins_debug.yaml", "learning_rate: 0.003", "learning_rate: 3e-3", "lr"),
        ("sweeps/penguins_sae_tiny.yaml", "[0.001, 0.01]", "[1e-3, 1E-2]", "grid"),
    ],
)
def test_every_kind_reads_exponent_floats(tmp_path, rel, old, new, key):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    path = tmp_path / "configs" / rel
    src = path.read_text()
    assert old in src, f"{rel} changed: update this test"
    path.write_text(src.replace(old, new))
    raw = yaml.safe_load(path.read_text())  # plain PyYAML: strings
    kind = kind_of(path)
    loaded = kind.load(str(path), [])
    if key == "batch":
        assert isinstance(raw["train"]["loader_params"]["batch_size"], str)
        assert loaded.train.loader_params.batch_size == 512
    elif key == "beta":
        assert isinstance(raw["test"]["metrics"]["loss"]["params"]["beta"], str)
        assert loaded.test.metrics.loss.params["beta"] == 1.0
    elif key == "lr":
        assert loaded.sae["train"]["optimizer_config"]["learning_rate"] == 0.003
    else:
        cfg, trials = loaded
        assert cfg.grid["sae.train.optimizer_config.learning_rate"] == [0.001, 0.01]
        assert {t.params["sae.train.optimizer_config.learning_rate"] for t in trials} == {
            0.001,
            0.01,
        }
