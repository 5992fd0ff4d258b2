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
