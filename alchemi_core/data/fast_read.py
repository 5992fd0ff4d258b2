"""The fast path of reading a table into tensors: typed reads, preallocated outputs.

Numerical columns are parsed straight to float32 and categoricals to dictionary arrays (each
distinct value is looked up once, not each row). Record batches are converted into
preallocated tensors one at a time and let go, so peak memory stays near the tensors' size.
Anything unusual (a missing column, a bad value, nulls) returns None: the careful path in
tabular.py then reads the file again and reports the problem with its row and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

POOL = pa.system_memory_pool()  # freed buffers go back to malloc, where torch can reuse them
BATCH_ROWS = 1 << 16


class Unusual(Exception):
    """Leave it to the careful path."""


def _batches(path: Path, numerical: list[str], categorical: list[str]):
    wanted = numerical + categorical
    if path.suffix.lower() == ".csv":
        types = {c: pa.float32() for c in numerical}
        types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in categorical})
        opts = pacsv.ConvertOptions(column_types=types, include_columns=wanted)
        table = pacsv.read_csv(path, convert_options=opts, memory_pool=POOL)
        batches = table.to_batches()
        n = table.num_rows
        del table

        def drain() -> Iterator[pa.RecordBatch]:
            while batches:
                yield batches.pop(0)  # converted batches are freed as we go

        return n, drain()
    pf = pq.ParquetFile(path, read_dictionary=categorical or None)
    missing = set(wanted) - set(pf.schema_arrow.names)
    if missing:
        raise Unusual
    return pf.metadata.num_rows, pf.iter_batches(BATCH_ROWS, columns=wanted)


def _codes(arr: pa.Array, mapping: dict[str, int]) -> np.ndarray:
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr.cast(pa.string()))
    if arr.null_count:
        raise Unusual
    lut = np.array([mapping.get(v, -1) for v in arr.dictionary.cast(pa.string()).to_pylist()])
    codes = lut[arr.indices.to_numpy(zero_copy_only=False)] if len(lut) else np.array([], int)
    if codes.size and codes.min() < 0:
        raise Unusual
    return codes


def fast_tensors(
    path: Path, numerical: list[str], categorical: list[str], mappings: dict[str, dict[str, int]]
) -> dict[str, torch.Tensor] | None:
    try:
        n, batches = _batches(path, numerical, categorical)
        if n == 0:
            return None
        num = torch.empty((n, len(numerical)), dtype=torch.float32)
        cat = torch.empty((n, len(categorical)), dtype=torch.int64)
        num_np, cat_np, row = num.numpy(), cat.numpy(), 0
        for batch in batches:
            end = row + batch.num_rows
            for i, col in enumerate(numerical):
                arr = batch.column(col)
                if not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)):
                    raise Unusual
                num_np[row:end, i] = arr.to_numpy(zero_copy_only=False)
            for i, col in enumerate(categorical):
                cat_np[row:end, i] = _codes(batch.column(col), mappings[col])
            row = end
    except (Unusual, pa.ArrowException, KeyError, ValueError, TypeError, OSError):
        return None
    if row != n or (numerical and not bool(torch.isfinite(num).all())):
        return None  # nulls read as NaN; the careful path names the first bad row
    out = {}
    if numerical:
        out["numerical"] = num
    if categorical:
        out["categorical"] = cat
    return out
