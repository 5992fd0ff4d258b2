"""bench/alignment_quality.py's parts on tiny data: the transfer baselines (oracle, bridge,
physics), the probe rows of a trained debug run, and the goal rows built from them."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from alchemi_core.alignment import spectral
from alchemi_core.cli import main
from tests.spectral.helpers import ROOT, tiny_config

sys.path.insert(0, str(ROOT / "bench"))
import alignment_quality  # noqa: E402
import alignment_transfer  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench_parts")
    cfg = tiny_config(tmp / "d", tmp / "runs")
    assert main(["align", "train", "--config", str(cfg)]) == 0
    df = pd.read_csv(tmp / "d/lab.csv")
    bright = np.where(df["560"] > df["560"].median(), "bright", "dark")
    df = pd.concat([df, pd.DataFrame({"bright": bright})], axis=1)
    df.to_csv(tmp / "d/lab.csv", index=False)
    lab = spectral.load_lab(tmp / "d/lab.csv")
    return tmp / "runs/align_debug", lab, tmp / "d"


def test_transfer_rows_of_a_trained_run(tiny):
    run, lab, data = tiny
    split = spectral.split(len(lab.ids), 0.25, 0)
    train = [str(data / "msi.csv"), str(data / "oli.csv")]
    rows = alignment_transfer.measure(
        run, lab, split, train, [str(data / "unseen.csv")], (0.0, 0.03), levels=("bright",)
    )
    assert [(r["sensor"], r["noise"]) for r in rows] == [("unseen", "0%"), ("unseen", "3%")]
    for r in rows:
        # the class is the 560 nm reflectance above its median: the sensor's own bands (oracle,
        # physics) and the lab spectrum (bridge) all read it
        assert r["oracle"] >= 0.9 and r["physics"] >= 0.9 and r["bridge"] >= 0.9
        assert 0 <= r["ours"] <= 1 and r["majority"] == pytest.approx(0.5, abs=0.2)
    g = alignment_transfer.goals(rows)
    assert g["unseen"]["ours_minus_bridge_worst"] == min(r["ours"] - r["bridge"] for r in rows)


def _retrieval(sensor, split, noise, top1, rerank, physics, space=None, fused=None):
    return {"sensor": sensor, "split": split, "noise": noise, "ours_top1": top1,
            "rerank_top1": rerank, "physics_top1": physics,
            "space_top1": top1 if space is None else space,
            "space_fused_top1": top1 if fused is None else fused}  # fmt: skip


def test_goal_rows_pick_the_worst_case():
    raw = [
        _retrieval("a", "held-out", "3%", 0.45, 0.88, 0.9, 0.54, 0.81),  # model .5, space .6
        _retrieval("b", "held-out", "3%", 0.30, 0.50, 0.6, 0.48, 0.42),  # rerank .83; .8; .7
        _retrieval("c", "held-out", "1%", 0.01, 0.01, 0.9),  # another noise level: not scored
        _retrieval("d", "train", "3%", 0.01, 0.01, 0.9),
    ]
    model, space, fused, rerank = alignment_quality.limit_rows(raw, lambda t: t, "n")
    assert space["ratio"] == pytest.approx(0.6, abs=1e-3) and "(a)" in space["note"]
    assert fused["ratio"] == pytest.approx(0.7, abs=1e-3) and "(b)" in fused["note"]
    assert "sensor-space fused" in fused["case"]
    assert rerank["ratio"] == pytest.approx(0.5 / 0.6, abs=1e-3) and "(b)" in rerank["note"]
    assert rerank["met"] is False and model["ratio"] == pytest.approx(0.5, abs=1e-3)
    moved = [
        {"sensor": "a", "labels": "L2", "noise": "3%", "ours": 0.90, "bridge": 0.92,
         "physics": 0.93},
        {"sensor": "b", "labels": "L3", "noise": "0%", "ours": 0.80, "bridge": 0.70,
         "physics": 0.90},
    ]  # fmt: skip
    bridge, physics = alignment_quality.transfer_rows(moved, lambda t: t, "n")
    assert bridge["met"] is False and "a L2 3%" in bridge["note"]
    assert physics["baseline"] == pytest.approx(0.85) and physics["met"] is False
    assert "b L3 0%" in physics["note"]


def test_goals_ratio_to_the_physics_per_held_out_sensor():
    keys = ("cycle_top1", "fused_top1", "centre_top1", "ridge_top1", "ours_sam", "ridge_sam")
    raw = [
        {**dict.fromkeys(keys, 0.5), **_retrieval("a", "held-out", "3%", 0.45, 0.88, 0.9)},
        {**dict.fromkeys(keys, 0.5), **_retrieval("d", "train", "3%", 0.6, 0.9, 0.9)},
    ]
    g = alignment_quality.goals(raw)
    assert g["held_out_over_physics_at_3pct"] == {
        "a": {
            "model": pytest.approx(0.5),
            "sensor_space": pytest.approx(0.5),
            "sensor_space_fused": pytest.approx(0.5),
            "rerank": pytest.approx(0.88 / 0.9),
        }
    }
    assert g["held_out_beats_ridge_at_3pct"] == [0.45, 0.5]
