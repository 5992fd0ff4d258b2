"""`alchemi prepare-data`: splits, stats.json, the log transform and the train-split z-scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alchemi_core.cli import main
from alchemi_core.tabular.prepare import DATASETS, load_raw


@pytest.fixture(scope="module")
def diamonds(tmp_path_factory):
    out = tmp_path_factory.mktemp("diamonds")
    assert main(["prepare-data", "--dataset", "diamonds", "--out", str(out)]) == 0
    splits = {s: pd.read_csv(out / f"{s}.csv") for s in ("train", "val", "test")}
    return out, splits, json.loads((out / "stats.json").read_text())


def test_stats_json_records_what_was_done(diamonds):
    _, splits, stats = diamonds
    assert stats["dataset"] == "diamonds" and stats["seed"] == 0
    assert stats["log_columns"] == ["carat", "price"]
    assert stats["rows"] == {s: len(f) for s, f in splits.items()}
    assert set(stats["mean"]) == set(stats["std"]) == set(DATASETS["diamonds"][0])


def test_numerical_columns_are_z_scored_with_the_train_split(diamonds):
    _, splits, stats = diamonds
    train = splits["train"]
    for col in DATASETS["diamonds"][0]:
        assert abs(train[col].mean()) < 1e-4, col
        assert train[col].std() == pytest.approx(1.0, abs=1e-4), col
    # val and test use the train statistics, so they are not exactly centred
    assert abs(splits["val"]["price"].mean()) > 1e-4


def test_log_transform_and_stats_map_back_to_the_raw_values(diamonds):
    _, splits, stats = diamonds
    raw = load_raw("diamonds")
    both = pd.concat(splits.values())
    for col in ("price", "carat", "depth"):
        back = both[col].to_numpy() * stats["std"][col] + stats["mean"][col]
        if col in stats["log_columns"]:
            back = np.exp(back)
        want = np.sort(raw[col].astype(float).to_numpy())
        np.testing.assert_allclose(np.sort(back), want, rtol=2e-4, err_msg=col)


def test_categorical_columns_get_a_cardinalities_file(diamonds):
    out, splits, _ = diamonds
    cards = json.loads((out / "cardinalities.json").read_text())
    for col in DATASETS["diamonds"][2]:
        seen = set(pd.concat(splits.values())[col].astype(str))
        assert set(cards[col]) == seen and sorted(cards[col].values()) == list(range(len(seen)))
