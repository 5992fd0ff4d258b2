"""The fast path of reading a table into tensors: typed reads, preallocated outputs.

Numerical columns are parsed straight to float32 and categoricals to dictionary arrays (each
distinct value is looked up once, not each row). Record batches are converted into
preallocated tensors one at a time and let go, so peak memory stays near the tensors' size.
Anything unusual (a missing column, a bad value, nulls) returns None: the careful path in
tabular.py then reads the file again and reports the problem with its row and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

POOL = pa.system_memory_pool()  # freed buffers go back to malloc, where torch can reuse them
BATCH_ROWS = 1 << 16
CHUNK = 1 << 20  # bytes of CSV parsed at a time (2 MB and over: ~25% more CPU, out of cache)


class Unusual(Exception):
    """Leave it to the careful path."""


def _csv_batches(path: Path, numerical: list[str], categorical: list[str]):
    """arrow's streaming reader on the calling thread: blocks of CHUNK bytes, each parsed and
    converted once (a loop of read_csv calls on blocks of our own costs ~25% more CPU; blocks
    over 1 MB fall out of cache). Its read-ahead holds a few blocks, not the file."""
    types = {c: pa.float32() for c in numerical}
    types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in categorical})
    conv = pacsv.ConvertOptions(column_types=types, include_columns=numerical + categorical)
    reader = pacsv.open_csv(
        path,
        pacsv.ReadOptions(use_threads=False, block_size=CHUNK),
        pacsv.ParseOptions(newlines_in_values=True),  # quoted newlines: no cost on one thread
        conv,
        memory_pool=POOL,
    )
    for batch in reader:
        yield CHUNK, batch


def _batches(path: Path, numerical: list[str], categorical: list[str]):
    """(an estimate of the row count or None, record batches) read in blocks, never whole."""
    if path.suffix.lower() == ".csv":
        return None, _csv_batches(path, numerical, categorical)
    wanted = numerical + categorical
    default = pa.default_memory_pool()
    pa.set_memory_pool(POOL)  # the parquet reader takes its pool from the default when made;
    try:  # mimalloc's default keeps freed pages (~1x the tensors at 1M rows)
        pf = pq.ParquetFile(path, read_dictionary=categorical or None, pre_buffer=False)
    finally:
        pa.set_memory_pool(default)
    missing = set(wanted) - set(pf.schema_arrow.names)
    if missing:
        raise Unusual
    return pf.metadata.num_rows, _parquet_batches(pf, wanted)


def _parquet_batches(pf: pq.ParquetFile, wanted: list[str]):
    """Row group by row group (iter_batches over the file holds several); large ones in slices."""
    for i in range(pf.num_row_groups):
        if pf.metadata.row_group(i).num_rows <= 4 * BATCH_ROWS:
            parts = pf.read_row_group(i, columns=wanted, use_threads=False).to_batches()
        else:
            parts = pf.iter_batches(BATCH_ROWS, [i], columns=wanted, use_threads=False)
        for batch in parts:
            yield 0, batch


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


def _empty(n: int, n_num: int, n_cat: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty((n, n_num), dtype=torch.float32), torch.empty((n, n_cat), dtype=torch.int64)


def _grow(num: torch.Tensor, cat: torch.Tensor, row: int, end: int):
    """Larger outputs holding the first `row` rows (only when the estimate was short)."""
    new_num, new_cat = _empty(max(end, len(num) * 5 // 4), num.shape[1], cat.shape[1])
    new_num[:row], new_cat[:row] = num[:row], cat[:row]
    return new_num, new_cat


def fast_tensors(
    path: Path, numerical: list[str], categorical: list[str], mappings: dict[str, dict[str, int]]
) -> dict[str, torch.Tensor] | None:
    try:
        n, batches = _batches(path, numerical, categorical)
        num = cat = None
        row = 0
        for nbytes, batch in batches:
            end = row + batch.num_rows
            if num is None:  # CSV: sized from the first block; untouched pages cost no memory
                size = path.stat().st_size
                n = n if n is not None else int(max(1.0, size / nbytes) * end * 1.05) + 64
                num, cat = _empty(n, len(numerical), len(categorical))
            if end > len(num):
                num, cat = _grow(num, cat, row, end)
            num_np, cat_np = num.numpy(), cat.numpy()
            for i, col in enumerate(numerical):
                arr = batch.column(col)
                if not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)):
                    raise Unusual
                num_np[row:end, i] = arr.to_numpy(zero_copy_only=False)
            if not np.isfinite(num_np[row:end]).all():
                raise Unusual  # nulls read as NaN; the careful path names the first bad row
            for i, col in enumerate(categorical):
                cat_np[row:end, i] = _codes(batch.column(col), mappings[col])
            row = end
    except (Unusual, pa.ArrowException, KeyError, ValueError, TypeError, OSError):
        return None
    if num is None or row == 0:
        return None
    num, cat = num[:row], cat[:row]  # the estimate of a CSV's rows can exceed them
    out = {}
    if numerical:
        out["numerical"] = num
    if categorical:
        out["categorical"] = cat
    return out
