"""The typed, streaming read path gives exactly the tensors the careful path gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from alchemi_core.tabular import fast_read
from alchemi_core.tabular.fast_read import fast_tensors

MAP = {"a\nb": 0, "c": 1, "7": 2}


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"x": [1.5, -2.0, 3.25, 0.0], "y": [1, 2, 3, 4], "k": ["c", "a\nb", "7", "c"]}
    )


@pytest.mark.parametrize(("suffix", "chunk"), [(".csv", 1 << 20), (".csv", 20), (".parquet", 0)])
def test_values_codes_and_quoted_newlines(tmp_path, monkeypatch, suffix, chunk):
    monkeypatch.setattr(fast_read, "CHUNK", chunk)  # 20 bytes: a block per row or two
    path = tmp_path / f"t{suffix}"
    df = frame()
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    out = fast_tensors(path, ["x", "y"], ["k"], {"k": MAP})
    assert out["numerical"].dtype == torch.float32 and out["categorical"].dtype == torch.int64
    assert torch.equal(out["numerical"], torch.tensor(df[["x", "y"]].to_numpy(np.float32)))
    assert out["categorical"][:, 0].tolist() == [1, 0, 2, 1]


@pytest.mark.parametrize(
    ("change", "why"),
    [({"x": [1.0, None, 2.0, 3.0]}, "null"), ({"k": ["c", "zz", "c", "c"]}, "unknown category")],
)
def test_unusual_input_is_left_to_the_careful_path(tmp_path, change, why):
    df = frame().assign(**change)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    assert fast_tensors(path, ["x", "y"], ["k"], {"k": MAP}) is None, why


def test_missing_column_is_left_to_the_careful_path(tmp_path):
    path = tmp_path / "t.parquet"
    frame().to_parquet(path)
    assert fast_tensors(path, ["x", "nope"], [], {}) is None
