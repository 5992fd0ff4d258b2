"""Cheap data checks for `alchemi config validate`: files exist and hold the named columns.

Only a CSV's header line, a parquet file's schema or a .npy file's header is read.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from alchemi_core.data.tabular import SUFFIXES, check_file, load_cardinalities, require_columns
from alchemi_core.errors import DataError


def column_names(path: Path) -> list[str]:
    try:
        if SUFFIXES[path.suffix.lower()] == "csv":
            with path.open(newline="") as fh:
                return next(csv.reader(fh), [])
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read header: {str(exc).splitlines()[0]}", path) from None


def check_table(path: str | Path, data) -> None:
    """A CSV/parquet file holds every column of `data.columns` (and the categoricals map)."""
    cols = data.columns
    path = check_file(path, SUFFIXES, "table")
    require_columns(column_names(path), cols.numerical + cols.categorical + cols.embeddings, path)
    if cols.categorical:
        load_cardinalities(data.cardinalities_path, cols.categorical)


def check_npy(path: str | Path) -> None:
    """A 2-D float .npy (its header only; values are checked when the data is loaded)."""
    path = check_file(path, {".npy": "npy"}, "embeddings")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"not a valid .npy file: {str(exc).splitlines()[0]}", path) from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"expected a 2-D float array, got {arr.dtype} {arr.shape}", path)


def check_input(loader_class: str, path: str | Path, data) -> None:
    """The data file of a train/val/test section, as far as its loader is known here."""
    if loader_class == "TabularDataLoader":
        check_table(path, data)
    elif loader_class == "EmbeddingDataLoader":
        check_npy(path)
    elif not Path(path).exists():  # a plugin's loader: at least the path must exist
        raise DataError("data file not found", path)
