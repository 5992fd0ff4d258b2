"""TabularDataLoader: CSV or parquet -> whole-column tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

from alchemi_core.data.columns import unique_columns
from alchemi_core.errors import DataError
from alchemi_core.hints import did_you_mean
from alchemi_core.registry import register_dataloader
from alchemi_core.tabular.batching import BatchLoader, BatchLoaderParams, DataSpec
from alchemi_core.tabular.fast_read import fast_tensors

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
CARDINALITIES_MAX_BYTES = 64 << 20  # a column -> {value: index} map; far larger is a mistake


def check_file(path: str | Path, allowed: dict[str, str], what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} file not found", path)
    if path.is_dir():
        raise DataError(f"is a folder, expected a {what} file", path)
    if path.suffix.lower() not in allowed:
        kinds = ", ".join(sorted(allowed))
        raise DataError(
            f"unsupported file type {path.suffix or '(none)'!r}; expected {kinds}", path
        )
    if path.stat().st_size == 0:
        raise DataError("file is empty", path)
    return path


def load_cardinalities(path: str | Path, columns: list[str]) -> dict[str, dict[str, int]]:
    path = Path(path)
    if not path.is_file():
        raise DataError("cardinalities file not found" if not path.exists() else "not a file", path)
    if path.stat().st_size > CARDINALITIES_MAX_BYTES:
        raise DataError(f"larger than {CARDINALITIES_MAX_BYTES >> 20} MiB", path)
    try:
        data = json.loads(path.read_text(), object_pairs_hook=_unique_keys)
    except DuplicateKey as exc:
        raise DataError(f"key {exc.args[0]!r} appears twice", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"invalid JSON: {exc}", path) from None
    except RecursionError:
        raise DataError("nested too deeply; expected column -> {value: index}", path) from None
    if not isinstance(data, dict):
        raise DataError("must map column -> {value: index}", path)
    out = {}
    for col in columns:
        mapping = data.get(col)
        if not isinstance(mapping, dict) or not mapping:
            raise DataError("categorical column has no {value: index} mapping", path, col)
        idx = list(mapping.values())
        if not all(type(i) is int for i in idx) or sorted(idx) != list(range(len(idx))):
            raise DataError("indices must be the integers 0..K-1, each once", path, col)
        out[col] = {str(k): v for k, v in mapping.items()}
    return out


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        dup = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise DuplicateKey(dup)
    return out


class DuplicateKey(ValueError):
    pass


def _read(path: Path, categorical: list[str]) -> pa.Table:
    try:
        if SUFFIXES[path.suffix.lower()] == "csv":
            opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in categorical})
            return pacsv.read_csv(path, convert_options=opts)
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read table: {str(exc).splitlines()[0]}", path) from None


def require_columns(have: list[str], wanted: list[str], path: Path) -> None:
    for col in wanted:
        if col not in have:
            extra = did_you_mean(col, have)
            raise DataError(f"column not found{extra}; file has: {', '.join(have)}", path, col)


def _row_hint(path: Path, row: int) -> str:
    line = f", line {row + 2}" if path.suffix.lower() == ".csv" else ""
    return f"row {row}{line}"


def _float_column(table: pa.Table, col: str, path: Path) -> np.ndarray:
    arr = table.column(col)
    if pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        raise DataError("list values in a scalar column", path, col)
    try:
        values = arr.to_numpy(zero_copy_only=False).astype(np.float64)
    except (ValueError, TypeError, pa.ArrowInvalid):
        bad = next(i for i, v in enumerate(arr.to_pylist()) if not _is_number(v))
        raise DataError(
            f"non-numeric value {arr[bad].as_py()!r} at {_row_hint(path, bad)}", path, col
        ) from None
    bad_rows = np.flatnonzero(~np.isfinite(values))
    if bad_rows.size:
        r = int(bad_rows[0])
        raise DataError(
            f"{bad_rows.size} missing or non-finite value(s), first at {_row_hint(path, r)}",
            path,
            col,
        )
    return values.astype(np.float32)


def _is_number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False


def _embedding_column(table: pa.Table, col: str, path: Path) -> np.ndarray:
    arr = table.column(col)
    if pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        rows = arr.to_pylist()
        widths = {len(r) if r is not None else -1 for r in rows}
        if len(widths) != 1 or -1 in widths:
            raise DataError("embedding rows differ in length or are missing", path, col)
        values = np.asarray(rows, dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if bad.size:
            raise DataError(f"non-finite value at {_row_hint(path, int(bad[0]))}", path, col)
        return values
    return _float_column(table, col, path)[:, None]


def _categorical_column(table: pa.Table, col: str, mapping: dict, path: Path) -> np.ndarray:
    raw = table.column(col).cast(pa.string()).to_pandas()
    codes = raw.map(mapping)
    missing = codes.isna().to_numpy()
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        value = raw.iloc[r]
        what = "missing value" if pd.isna(value) else f"unknown category {value!r}"
        known = ", ".join(list(mapping)[:8])
        raise DataError(f"{what} at {_row_hint(path, r)}; known: {known}", path, col)
    return codes.to_numpy(dtype=np.int64)


def read_tabular(
    path: str | Path,
    numerical: list[str],
    categorical: list[str],
    embeddings: list[str],
    cardinalities_path: str | None,
) -> tuple[dict[str, torch.Tensor], DataSpec]:
    path = check_file(path, SUFFIXES, "table")
    unique_columns(path)  # a repeated header: refused, not the first of the two read
    mappings = load_cardinalities(cardinalities_path, categorical) if categorical else {}
    fast = None if embeddings else fast_tensors(path, numerical, categorical, mappings)
    if fast is not None:
        spec = DataSpec(list(numerical), {c: len(mappings[c]) for c in categorical})
        return fast, spec
    table = _read(path, categorical)
    require_columns(table.column_names, numerical + categorical + embeddings, path)
    if table.num_rows == 0:
        raise DataError("table has no rows", path)
    tensors: dict[str, torch.Tensor] = {}
    if numerical:
        cols = [_float_column(table, c, path) for c in numerical]
        tensors["numerical"] = torch.from_numpy(np.stack(cols, axis=1))
    if categorical:
        cols = [_categorical_column(table, c, mappings[c], path) for c in categorical]
        tensors["categorical"] = torch.from_numpy(np.stack(cols, axis=1))
    emb_dim = 0
    if embeddings:
        block = np.concatenate([_embedding_column(table, c, path) for c in embeddings], axis=1)
        tensors["embeddings"] = torch.from_numpy(np.ascontiguousarray(block))
        emb_dim = block.shape[1]
    spec = DataSpec(
        numerical=list(numerical),
        categorical={c: len(mappings[c]) for c in categorical},
        embeddings=list(embeddings),
        embedding_dim=emb_dim,
    )
    return tensors, spec


@register_dataloader("TabularDataLoader", params=BatchLoaderParams)
class TabularDataLoader(BatchLoader):
    """Numerical columns as float32, categorical as int64 codes, embedding columns as float32."""

    suffixes = tuple(SUFFIXES)

    def load(self, data) -> None:
        cols = data.columns
        self.tensors, self.spec = read_tabular(
            self.path, cols.numerical, cols.categorical, cols.embeddings, data.cardinalities_path
        )
