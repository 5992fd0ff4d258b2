"""bench/spikes.py's grid bookkeeping and bench/quality.py's spike rows, on a written results
file (no training): the ratio, the MAE's per-ratio reading, resumable cells, the verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import quality  # noqa: E402
import spikes  # noqa: E402


def test_worst_ratio_is_against_the_best_before():
    assert spikes.worst_ratio([1.0, 0.5, 0.4, 2.0, 0.3]) == (5.0, 4)
    ratio, _ = spikes.worst_ratio([3.0, 2.0, 1.0])  # falling: never above 1
    assert ratio < 1


def test_mae_ratio_restarts_with_each_masking_ratio(tmp_path):
    lines = [{"epoch": e, "mask_ratio": m, "train_loss": v}
             for e, (m, v) in enumerate([(0.5, 1.0), (0.5, 0.2), (0.9, 1.5), (0.9, 1.4)], 1)]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    ratio, at, n = spikes.mae_ratio(str(tmp_path))
    assert (round(ratio, 3), n) == (0.933, 4) and at == 4  # 1.5 after 0.2 is a new MAE's start


def cell(recipe, seed, threads, ratio):
    return {"recipe": recipe, "seed": seed, "threads": threads, "ratio": ratio, "at": 5,
            "points": 9, "epochs_cap": None}  # fmt: skip


def test_grid_rows_and_quality_verdict(tmp_path):
    results = tmp_path / "spikes.jsonl"
    for row in (cell("vae", 42, 1, 1.1), cell("vae", 42, 2, 3.5), cell("sae", 1, 2, 1.0)):
        spikes.record(results, row | {"seconds": 1})
    assert ("vae", 42, 2, None) in spikes.done(results)  # a finished cell is not run again
    rows = {r["case"].split()[1]: r for r in quality.spike_rows(results)}
    assert rows["vae"]["alchemi"] == 3.5 and rows["vae"]["met"] is False
    assert rows["sae"]["met"] is True and "s1/t2 1.00@5" in rows["sae"]["note"]
    assert rows["mae"]["met"] is None and "not run" in rows["mae"]["note"]
    grid = {r["recipe"]: r for r in spikes.matrix(results, [42, 1], [1, 2])}
    assert grid["vae"]["t2 s42"] == "3.50@5" and grid["vae"]["t1 s1"] == "-"


def test_an_unfinished_run_is_recorded_as_such(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    losses = [2.0, 1.0, 0.8]
    (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": i, "train_loss": v}) + "\n"
                                               for i, v in enumerate(losses, 1)))  # fmt: skip
    results = tmp_path / "spikes.jsonl"
    argv = ["--only", "alignment", "--seeds", "42", "--threads", "2", "--results", str(results)]
    assert spikes.main([*argv, "--read-unfinished", str(run)]) == 0
    (got,) = spikes.done(results).values()
    assert got["partial"] and got["points"] == 3 and got["ratio"] == 0.8
    assert ("alignment", 42, 2, None) not in spikes.done(results)  # the full run is still to do
    grid = {r["recipe"]: r for r in spikes.matrix(results, [42], [2])}
    assert grid["alignment"]["t2 s42"] == "0.80@3 (unfinished, 3 pts)"
