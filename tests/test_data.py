"""Loaders: dtypes, formats, batching knobs, and clear errors on bad data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from alchemi_core.config.schema import DataConfig
from alchemi_core.errors import DataError
from alchemi_core.tabular.embeddings import EmbeddingDataLoader
from alchemi_core.tabular.loader import TabularDataLoader

NUM = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CAT = ["species", "island", "sex"]


def data_cfg(d, numerical=NUM, categorical=CAT):
    return DataConfig.model_validate(
        {
            "columns": {"numerical": numerical, "categorical": categorical},
            "cardinalities_path": str(d / "cardinalities.json") if categorical else None,
        }
    )


def loader(path, d, **kw):
    params = {"batch_size": 32, "shuffle": False, **kw}
    return TabularDataLoader(str(path), data_cfg(d), **params)


def test_csv_dtypes_and_category_codes(penguins_dir):
    ld = loader(penguins_dir / "train.csv", penguins_dir)
    t = ld.tensors
    assert t["numerical"].dtype == torch.float32 and t["numerical"].shape[1] == 4
    assert t["categorical"].dtype == torch.int64 and t["categorical"].shape[1] == 3
    frame = pd.read_csv(penguins_dir / "train.csv")
    cards = json.loads((penguins_dir / "cardinalities.json").read_text())
    expected = frame["island"].map(cards["island"]).to_numpy()
    assert np.array_equal(t["categorical"][:, 1].numpy(), expected)
    assert ld.spec.categorical == {"species": 3, "island": 3, "sex": 2}


def test_parquet_reads_the_same_as_csv(penguins_dir, penguins_parquet_dir):
    a = loader(penguins_dir / "train.csv", penguins_dir).tensors
    b = loader(penguins_parquet_dir / "train.parquet", penguins_parquet_dir).tensors
    assert torch.equal(a["categorical"], b["categorical"])
    assert torch.allclose(a["numerical"], b["numerical"])


def test_batching_knobs(penguins_dir):
    ld = loader(penguins_dir / "train.csv", penguins_dir, batch_size=50)
    n = ld.num_rows
    batches = list(ld)
    assert len(batches) == -(-n // 50) and sum(b["numerical"].shape[0] for b in batches) == n
    assert torch.equal(torch.cat([b["numerical"] for b in batches]), ld.tensors["numerical"])
    limited = loader(
        penguins_dir / "train.csv", penguins_dir, batch_size=50, num_batches_per_epoch=2
    )
    assert len(list(limited)) == 2


def test_shuffle_permutes_every_row_once_and_is_seeded(penguins_dir):
    ld = loader(penguins_dir / "train.csv", penguins_dir, shuffle=True)
    ld.seed(3)
    first = torch.cat([b["numerical"] for b in ld])
    second = torch.cat([b["numerical"] for b in ld])
    assert not torch.equal(first, ld.tensors["numerical"]) and not torch.equal(first, second)
    key = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731
    assert key(first) == key(ld.tensors["numerical"])
    ld.seed(3)
    assert torch.equal(torch.cat([b["numerical"] for b in ld]), first)


def test_num_workers_gives_the_same_batches(penguins_dir):
    a = loader(penguins_dir / "train.csv", penguins_dir, shuffle=True, batch_size=40)
    b = loader(penguins_dir / "train.csv", penguins_dir, shuffle=True, batch_size=40, num_workers=2)
    a.seed(1)
    b.seed(1)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["numerical"], y["numerical"])
        assert torch.equal(x["categorical"], y["categorical"])


@pytest.fixture
def broken(tmp_path, penguins_dir):
    shutil.copy(penguins_dir / "cardinalities.json", tmp_path / "cardinalities.json")
    frame = pd.read_csv(penguins_dir / "train.csv")

    def make(mutate, name="bad.csv"):
        f = frame.copy()
        mutate(f)
        path = tmp_path / name
        f.to_csv(path, index=False)
        return path

    return make


def data_error(path, d, **kw):
    with pytest.raises(DataError) as info:
        loader(path, d, **kw)
    return info.value


def test_missing_column(broken, tmp_path):
    path = broken(lambda f: f.drop(columns=["body_mass_g"], inplace=True))
    err = data_error(path, tmp_path)
    assert err.file == str(path) and err.key == "body_mass_g" and "not found" in err.message


def test_unknown_category_names_row(broken, tmp_path):
    def mutate(f):
        f.loc[5, "island"] = "Atlantis"

    err = data_error(broken(mutate), tmp_path)
    assert err.key == "island" and "'Atlantis'" in err.message and "row 5" in err.message


def test_nan_in_numerical_names_row(broken, tmp_path):
    def mutate(f):
        f.loc[7, "bill_depth_mm"] = np.nan

    err = data_error(broken(mutate), tmp_path)
    assert err.key == "bill_depth_mm" and "row 7" in err.message and "line 9" in err.message


def test_text_in_numerical_column(broken, tmp_path):
    def mutate(f):
        f["bill_depth_mm"] = f["bill_depth_mm"].astype(object)
        f.loc[2, "bill_depth_mm"] = "abc"

    err = data_error(broken(mutate), tmp_path)
    assert err.key == "bill_depth_mm" and "'abc'" in err.message


def test_empty_file_and_header_only(tmp_path, penguins_dir):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in data_error(empty, penguins_dir).message
    header = tmp_path / "header.csv"
    header.write_text(",".join(NUM + CAT) + "\n")
    assert "no rows" in data_error(header, penguins_dir).message


def test_wrong_file_type(tmp_path, penguins_dir):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    assert "unsupported file type" in data_error(path, penguins_dir).message


def test_missing_file(tmp_path, penguins_dir):
    err = data_error(tmp_path / "nope.csv", penguins_dir)
    assert err.file.endswith("nope.csv") and "not found" in err.message


def test_cardinalities_missing_a_column(tmp_path, penguins_dir):
    (tmp_path / "cardinalities.json").write_text(json.dumps({"species": {"Adelie": 0}}))
    err = data_error(penguins_dir / "train.csv", tmp_path)
    assert err.file.endswith("cardinalities.json") and err.key == "island"


@pytest.mark.parametrize("in_memory", [None, False])
def test_embedding_loader_memory_maps_and_batches(tmp_path, in_memory):
    arr = np.arange(40, dtype=np.float32).reshape(10, 4)
    np.save(tmp_path / "e.npy", arr)
    ld = EmbeddingDataLoader(
        str(tmp_path / "e.npy"), None, batch_size=4, shuffle=True, in_memory=in_memory
    )
    assert isinstance(ld.array, np.memmap)
    assert bool(ld.tensors) is (in_memory is None)  # small files are read into memory
    out = torch.cat([b["embeddings"] for b in ld])
    assert torch.equal(out.sort(0).values, torch.from_numpy(arr)) and ld.spec.embedding_dim == 4


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (np.zeros(5, np.float32), "2-D"),
        (np.zeros((0, 3), np.float32), "empty"),
        (np.array([[1.0, np.nan]], np.float32), "non-finite"),
        (np.zeros((2, 2), np.int64), "floats"),
    ],
)
def test_embedding_loader_errors(tmp_path, array, needle):
    np.save(tmp_path / "e.npy", array)
    with pytest.raises(DataError, match=needle):
        EmbeddingDataLoader(str(tmp_path / "e.npy"), None, batch_size=4, shuffle=False)
