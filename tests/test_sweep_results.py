"""Ranking a sweep's trials and writing them as a CSV."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace as NS

import pytest

from alchemi_core.errors import AlchemiError
from alchemi_core.sweep_results import failed_row, rank, table, write_csv

LOSS_MIN = NS(metric="sae.loss", direction="min")


def ok(name: str, value: float, **params) -> dict:
    return {"trial": name, "status": "ok", "params": params, "metrics": {"sae.loss": value}}


def test_rank_best_first_failed_and_nan_last(tmp_path):
    rows = [
        ok("a", 0.5, lr=1),
        failed_row(NS(name="b", params={"lr": 2}), RuntimeError("boom\nmore")),
        ok("c", math.nan, lr=3),
        ok("d", 0.1, lr=4),
    ]
    assert [r["trial"] for r in rank(rows, LOSS_MIN)][:2] == ["d", "a"]
    assert [r["trial"] for r in rank(rows, NS(metric="sae.loss", direction="max"))][:2] == [
        "a",
        "d",
    ]
    assert {r["trial"] for r in rank(rows, LOSS_MIN)[2:]} == {"b", "c"}
    flat = table(rank(rows, LOSS_MIN), "sae.loss")
    path = write_csv(tmp_path / "results.csv", flat)
    read = list(csv.DictReader(path.open()))
    assert [r["rank"] for r in read] == ["1", "2", "3", "4"]
    assert read[0]["trial"] == "d" and read[0]["sae.loss"] == "0.1" and read[0]["lr"] == "4"
    assert next(r for r in read if r["trial"] == "b")["error"] == "boom"


def test_rank_refuses_an_objective_no_trial_logs():
    with pytest.raises(AlchemiError, match="'vae.loss' is not a trial metric; have: sae.loss"):
        rank([ok("a", 0.5)], NS(metric="vae.loss", direction="min"))


def test_a_list_of_grids_joins_their_products(tmp_path):
    from alchemi_core.config.sweep import SweepConfig
    from alchemi_core.config.trials import trial_points

    cfg = SweepConfig.model_validate(
        {
            "pipeline": "p.yaml",
            "output_dir": "out",
            "grid": [
                {"sae.model.params.activation": ["topk"], "sae.model.params.k": [1, 2]},
                {
                    "sae.model.params.activation": ["relu"],
                    "sae.train.loss.params.sparsity_weight": [0.1],
                },
            ],
        }
    )
    assert trial_points(cfg) == [
        {"sae.model.params.activation": "topk", "sae.model.params.k": 1},
        {"sae.model.params.activation": "topk", "sae.model.params.k": 2},
        {"sae.model.params.activation": "relu", "sae.train.loss.params.sparsity_weight": 0.1},
    ]
    with pytest.raises(ValueError, match="none of them empty"):
        SweepConfig.model_validate({"pipeline": "p", "output_dir": "o", "grid": [{}]})


def test_the_objective_picture_has_the_sae_frontier(tmp_path):
    from alchemi_core.plots import plot_sweep

    trials = [
        {"params": {"sae.model.params.activation": act, "sae.model.params.k": k}, "value": fve,
         "metrics": {"sae.fve": fve, "sae.l0": l0}}
        for act, k, l0, fve in [("topk", 1, 1.0, 0.6), ("topk", 2, 2.0, 0.8), ("relu", 1, 2.5, 0.7)]
    ]  # fmt: skip
    out = plot_sweep(trials, "sae.fve", tmp_path / "objective.png")
    assert out is not None and out.stat().st_size > 0
    from matplotlib.figure import Figure

    from alchemi_core.plots.sweep import plot_frontier

    ax = Figure().add_subplot()
    plot_frontier(ax, trials)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"relu", "topk"} and list(lines["topk"].get_xdata()) == [1.0, 2.0]
    assert list(lines["topk"].get_ydata()) == [0.6, 0.8]


def test_the_frontier_line_joins_only_the_trials_no_other_beats():
    from matplotlib.figure import Figure

    from alchemi_core.plots.sweep import plot_frontier

    # a grid over width and lr (the activation not swept): (l0, fve) of 4 trials
    pts = [(1.3, 0.71), (1.5, 0.81), (2.1, 0.89), (2.6, 0.80)]
    trials = [{"params": {}, "metrics": {"sae.l0": a, "sae.fve": b}} for a, b in pts]
    ax = Figure().add_subplot()
    plot_frontier(ax, trials)
    (line,) = ax.get_lines()
    assert line.get_label() == "as configured"
    assert list(line.get_xdata()) == [1.3, 1.5, 2.1]  # (2.6, 0.80) is beaten by (2.1, 0.89)
    assert len(ax.collections[0].get_offsets()) == 4  # every trial is still a point
