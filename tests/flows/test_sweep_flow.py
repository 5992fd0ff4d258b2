"""The sweep flow: 4 SAE trials on one VAE, ranked results, MLflow parent + nested runs."""

from __future__ import annotations

import csv

import mlflow
import yaml

from flows.sweep import sweep_flow
from tests.flows.conftest import task_runs


def test_sweep_trains_the_vae_once_for_four_sae_trials(make_pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "1")  # the sweep's picture (the runs' are drawn too)
    pipe = make_pipeline(mlflow=True)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "pipeline": pipe.name,
                "output_dir": str(tmp_path / "sweep"),
                "grid": {
                    "sae.model.params.hidden_dim": [4, 8],
                    "sae.train.optimizer_config.learning_rate": [0.001, 0.01],
                },
                "objective": {"metric": "sae.loss", "direction": "min"},
                "concurrency": 2,
            }
        )
    )
    import flows.sweep

    loads = []
    check = flows.sweep.checked

    def counted(kind):
        loads.append(kind)
        return check(kind)

    monkeypatch.setattr(flows.sweep, "checked", counted)
    out = sweep_flow(str(sweep))
    assert loads == ["sweep"]  # loaded and checked once: run_trials takes sweep_flow's

    assert out["trials"] == 4 and out["vae_stages"] == 1
    runs = task_runs(out["trials_flow_run_id"])
    trains = sorted(r.name for r in runs if ": train " in r.name)
    assert trains.count("vae: train VAE debug") == 1 and len(trains) == 5  # 1 VAE + 4 SAE
    assert len({r["vae_run_dir"] for r in out["rows"]}) == 1
    assert len({r["sae_run_dir"] for r in out["rows"]}) == 4
    # the objective is the training's own val metrics: no validate (or SAE checkpoint) step
    assert not [
        r.name
        for r in runs
        if ": validate " in r.name or "checkpoint" in r.name and "sae" in r.name
    ]
    assert_objective_is_the_validation_metric(out["rows"][0])

    with open(out["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    losses = [float(r["sae.loss"]) for r in rows]
    assert losses == sorted(losses) and rows[0]["trial"] == out["best"]["trial"]
    assert {r["status"] for r in rows} == {"ok"}

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = out["mlflow"]["parent_run_id"]
    assert client.get_run(parent).data.tags["alchemi.best_trial"] == out["best"]["trial"]
    exp = client.get_experiment_by_name("sae")
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 4
    # The objective against each swept parameter: a picture beside the CSV, in the parent run.
    assert out["pictures"] == [str(tmp_path / "sweep" / "objective.png")]
    assert "objective.png" in {a.path for a in client.list_artifacts(parent)}

    # A second sweep reuses everything through the cache.
    again = sweep_flow(str(sweep))
    states = {s for r in again["rows"] for s in r["states"].values()}
    assert states == {"Cached"}


def test_no_sweep_picture_under_alchemi_plots_0(tmp_path, monkeypatch):
    from flows.sweep import objective_plot

    rows = [
        {"params": {"sae.lr": lr}, "metrics": {"sae.val_loss": v}} for lr, v in [(1, 2), (3, 1)]
    ]
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    assert objective_plot(rows, "sae.val_loss", tmp_path / "a.png", rows[1]) is None
    assert not (tmp_path / "a.png").exists()
    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    assert objective_plot(rows, "sae.val_loss", tmp_path / "b.png", rows[1]) == tmp_path / "b.png"


def assert_objective_is_the_validation_metric(row: dict) -> None:
    """The row's metrics are what evaluating its best checkpoint on val gives."""
    from pathlib import Path

    import pytest

    from alchemi_core import api
    from alchemi_core.config import steps
    from alchemi_core.config.loading import load_config
    from alchemi_core.run import checkpoints

    run = Path(row["sae_run_dir"])
    cfg = load_config(run.with_name(f"{run.name}.config.yaml"))
    check = steps.validation(cfg)
    ckpt = checkpoints.resolve(run, steps.checkpoint_strategy(cfg, None))
    got = api.evaluate(str(ckpt), check["split"], check["data"], check["loss"])
    for name in ("loss", "fve", "l0"):
        assert row["metrics"][f"sae.{name}"] == pytest.approx(got[name], rel=1e-4, abs=1e-6)
