"""Options with no test before: global.threads, alchemi.plugins entry points, mlflow.run_name."""

from __future__ import annotations

import sys

import torch
from mlflow.tracking import MlflowClient

from alchemi_core import api
from alchemi_core.cli import main

PLUGIN = """
from pydantic import PositiveInt
from torch import nn

from alchemi_core import Params, register_model


class PluginNetParams(Params):
    input_dim: PositiveInt | None = None
    width: PositiveInt = 3


@register_model("PluginNet", params=PluginNetParams)
class PluginNet(nn.Module):
    def __init__(self, input_dim: int, width: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, width), nn.Linear(width, input_dim))

    def forward(self, batch):
        return {"reconstruction": self.net(batch["numerical"])}
"""


def _global(**extra) -> dict:
    return {"seed": 7, "device": "cpu", "deterministic": True, **extra}


def test_global_threads_sets_torch_threads(write_config):
    before = torch.get_num_threads()
    want = 3 if before != 3 else 2
    try:
        result = api.train(write_config(global_=_global(threads=want)))
        assert result.status == "finished" and torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)


def test_zero_threads_is_a_config_error(write_config, capsys):
    cfg = write_config(global_=_global(threads=0))
    assert main(["train", "--config", str(cfg)]) == 2
    assert ": global.threads: Input should be greater than 0" in capsys.readouterr().err


def test_alchemi_plugins_entry_point_registers_a_model(tmp_path, monkeypatch, write_config):
    (tmp_path / "plug_models_xyz.py").write_text(PLUGIN)
    dist = tmp_path / "plug_xyz-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plug-xyz\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[alchemi.plugins]\nplug = plug_models_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "plug_models_xyz", raising=False)
    cfg = write_config(
        model={"class": "PluginNet", "params": {"width": 2}},
        data__columns={"numerical": ["bill_length_mm", "body_mass_g"]},
        data__cardinalities_path=None,
        train__loss={"class": "TinyMSE", "params": {}},
        val__loss={"class": "TinyMSE", "params": {}},
        checkpoint__metric="val_mse",
        imports=["tests.plugins.my_models"],  # the loss only; the model comes from the plugin
    )
    result = api.train(cfg)
    assert result.status == "finished"
    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    assert ckpt["model_class"] == "PluginNet" and ckpt["model_params"]["width"] == 2


def test_mlflow_run_name_names_the_run(write_config, mlflow_uri):
    cfg = write_config(
        mlflow={"tracking_uri": mlflow_uri, "experiment_name": "named", "run_name": "my-run"}
    )
    result = api.train(cfg)
    run = MlflowClient(tracking_uri=mlflow_uri).get_run(result.mlflow_run_id)
    assert run.info.run_name == "my-run"


def test_without_run_name_the_run_is_named_after_the_experiment(write_config, mlflow_uri):
    cfg = write_config(mlflow={"tracking_uri": mlflow_uri, "experiment_name": "named"})
    result = api.train(cfg)
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(result.mlflow_run_id).info.run_name == (
        "debug"
    )
