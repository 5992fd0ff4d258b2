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


class Unusual(Exception):
    """Leave it to the careful path."""


def count_lines(path: Path, chunk: int = 1 << 24) -> int:
    """Newlines in the file, plus one for a last line without one: at least the row count
    plus the header (quoted newlines only add to it)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _batches(path: Path, numerical: list[str], categorical: list[str]):
    """(an upper bound of the row count, record batches) read in blocks, never whole."""
    wanted = numerical + categorical
    if path.suffix.lower() == ".csv":
        types = {c: pa.float32() for c in numerical}
        types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in categorical})
        conv = pacsv.ConvertOptions(column_types=types, include_columns=wanted)
        reader = pacsv.open_csv(
            path,
            pacsv.ReadOptions(use_threads=False, block_size=1 << 22),
            convert_options=conv,
            memory_pool=POOL,
        )
        return count_lines(path) - 1, reader
    pf = pq.ParquetFile(path, read_dictionary=categorical or None, pre_buffer=False)
    missing = set(wanted) - set(pf.schema_arrow.names)
    if missing:
        raise Unusual
    return pf.metadata.num_rows, pf.iter_batches(BATCH_ROWS, columns=wanted, use_threads=False)


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
            if end > n:
                raise Unusual
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
    if row == 0 or (numerical and not bool(torch.isfinite(num[:row]).all())):
        return None  # nulls read as NaN; the careful path names the first bad row
    num, cat = num[:row], cat[:row]  # a CSV's line count can exceed its rows (blank lines)
    out = {}
    if numerical:
        out["numerical"] = num
    if categorical:
        out["categorical"] = cat
    return out
