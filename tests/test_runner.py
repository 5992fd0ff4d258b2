"""The one runner, for every stack: optimizer blocks, non-finite values, best and last,
the epoch-end writer."""

from __future__ import annotations

import json
import threading

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from alchemi_core import api
from alchemi_core.config.loading import read_yaml
from alchemi_core.errors import ConfigError
from alchemi_core.run.writer import Writer, snapshot
from flows.report import train_metrics
from tests.conftest import ROOT
from tests.reliability_helpers import run_cli
from tests.spectral.helpers import tiny_config

MAE_DEBUG = ROOT / "configs/mae/synthetic_debug.yaml"


def mae_config(tmp_path, **train) -> dict:
    cfg = read_yaml(MAE_DEBUG)
    cfg["experiment"]["output_dir"] = str(tmp_path / "runs")
    cfg["train"].update(bench_repeats=0, **train)
    return cfg


def stack_config(stack: str, tmp_path, section: dict):
    """(command, config path) of a tiny alignment or MAE run with `section` merged into its
    optimizer section (trainer for alignment, train for MAE)."""
    if stack == "alignment":
        path = tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 2})
        cfg = yaml.safe_load(path.read_text())
        command, part = ["align", "train"], cfg["trainer"]
    else:
        cfg, command = mae_config(tmp_path), ["pretrain-mae"]
        path, part = tmp_path / "mae.yaml", cfg["train"]
        tmp_path.mkdir(parents=True, exist_ok=True)
    if "optimizer_config" in section:  # the shipped debug configs set the legacy keys
        part.pop("learning_rate", None)
        part.pop("weight_decay", None)
    part.update(section)
    path.write_text(yaml.safe_dump(cfg))
    return command, path


def load(stack: str, path):
    from alchemi_core.alignment.config import load_alignment_config
    from alchemi_core.config.loading import load_config
    from alchemi_core.mae.config import MAEConfig

    return (
        load_alignment_config(path) if stack == "alignment" else load_config(path, None, MAEConfig)
    )


@pytest.mark.parametrize("stack", ["alignment", "mae"])
@pytest.mark.parametrize(
    "section, key",
    [
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"optimizer_config": {"optimizer": "AdamW", "learning_rate": float("nan")}}, "learning_rate"),
        ({"optimizer_config": {"optimizer": "SGD", "learning_rate": 0.1, "momentum": float("inf")}}, "momentum"),
        ({"learning_rate": 0.1, "optimizer_config": {"optimizer": "SGD", "learning_rate": 0.1}}, "learning_rate"),
    ],
)  # fmt: skip
def test_a_bad_optimizer_block_is_a_config_error_at_load(stack, section, key, tmp_path):
    _, path = stack_config(stack, tmp_path, section)
    with pytest.raises(ConfigError) as e:
        load(stack, path)
    assert key in e.value.line() and len(e.value.line().splitlines()) == 1


@pytest.mark.parametrize("stack", ["alignment", "mae"])
def test_the_optimizer_block_builds_that_optimizer_and_the_default_stays_adamw(stack, tmp_path):
    from alchemi_core import assembly

    block = {"optimizer": "SGD", "learning_rate": 0.05, "momentum": 0.9}
    _, path = stack_config(stack, tmp_path / "a", {"optimizer_config": block})
    _, plain = stack_config(stack, tmp_path / "b", {})
    if stack == "alignment":
        from alchemi_core.alignment.trainer import AlignmentTrainer as T

        opt = assembly.build_alignment(load(stack, path), str(path), None, T).trainer.optimizer
        default = assembly.build_alignment(
            load(stack, plain), str(plain), None, T
        ).trainer.optimizer
    else:
        cfg, rt = load(stack, path), assembly.runtime.resolve_runtime(load(stack, path))
        opt = assembly.mae_parts(cfg, rt)[1]
        default = assembly.mae_parts(load(stack, plain), rt)[1]
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["momentum"] == 0.9
    assert opt.param_groups[0]["lr"] == 0.05
    assert type(default) is torch.optim.AdamW


@pytest.mark.parametrize("stack", ["alignment", "mae"])
def test_a_diverging_run_of_any_stack_stops_with_one_line_exit_2(stack, tmp_path, capsys):
    section = {"optimizer_config": {"optimizer": "SGD", "learning_rate": 1.0e30}}
    if stack == "alignment":
        section["grad_clip_norm"] = None
    command, path = stack_config(stack, tmp_path, section)
    rc, out, err = run_cli([*command, "--config", path], capsys)
    last = err.strip().splitlines()[-1]
    assert rc == 2 and out == "", err
    assert (
        last.startswith("error: ")
        and " is " in last
        and (" at epoch " in last or " at step " in last)
    )
    run_dir = next((tmp_path / "runs").iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "diverged"


def test_a_run_reports_best_and_last_apart(write_config, mlflow_uri, tmp_path):
    """MLflow gets best_epoch and best_<name>, run.json the best epoch, the result both lines,
    the flow summary labels both."""
    cfg = write_config(
        train__epochs=4,
        checkpoint__metric="val_loss",
        mlflow={"tracking_uri": mlflow_uri, "experiment_name": "best"},
    )
    result = api.train(cfg)
    rows = [json.loads(x) for x in (tmp_path / "out/debug/metrics.jsonl").read_text().splitlines()]
    best = min(rows, key=lambda r: r["val_loss"])  # the first of equal values
    assert result.best_epoch == best["epoch"] and result.last_metrics["epoch"] == 4
    assert result.best_metrics == best and result.to_dict()["metrics"] == rows[-1]
    info = json.loads((tmp_path / "out/debug/run.json").read_text())
    assert info["best_epoch"] == best["epoch"] and info["early_stop_epoch"] is None
    metrics = MlflowClient(tracking_uri=mlflow_uri).get_run(result.mlflow_run_id).data.metrics
    assert metrics["best_epoch"] == best["epoch"] and metrics["best_val_loss"] == best["val_loss"]
    assert metrics["best_train_loss"] == best["train_loss"]
    shown = train_metrics(result.to_dict())
    assert shown.startswith(f"best (epoch {best['epoch']}): val_loss=")
    assert "; last (epoch 4): val_loss=" in shown


def test_the_writer_keeps_order_snapshots_and_raises_the_first_failure():
    w = Writer()
    done: list[int] = []
    gate = threading.Event()
    w.submit(lambda: (gate.wait(5), done.append(1)))
    t = torch.zeros(3)
    frozen = snapshot({"w": [t]})
    t += 1  # training goes on: the snapshot does not move
    w.submit(lambda: done.append(int(frozen["w"][0].sum())))
    gate.set()
    w.wait()
    assert done == [1, 0]
    with pytest.raises(ZeroDivisionError):
        w.submit(lambda: 1 / 0)
        w.submit(lambda: done.append(99))  # after a failure nothing more is written
        w.wait()
    assert done == [1, 0]
