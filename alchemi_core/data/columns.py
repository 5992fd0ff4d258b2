"""A table's column names as the file spells them, checked once for every reader.

pandas renames a repeated header `x` to `x.1` and pyarrow keeps both, so a duplicated column is
looked for in the raw header (a CSV's first line, a parquet file's schema) before any read.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from alchemi_core.errors import DataError

CSV_SUFFIXES = (".csv",)


def column_names(path: Path) -> list[str]:
    """The header of a CSV or parquet table (its first line or its schema)."""
    try:
        if path.suffix.lower() in CSV_SUFFIXES:
            with path.open(newline="") as fh:
                return next(csv.reader(fh), [])
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read header: {str(exc).splitlines()[0]}", path) from None


def unique_columns(path: Path, key: str | None = None) -> list[str]:
    """The header, refused when a column name appears twice (`key`: the config key to name)."""
    names = column_names(path)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            if key:
                raise DataError(f"column {name!r} appears twice in the header", path, key)
            raise DataError("column appears twice in the header", path, name)
        seen.add(name)
    return names


def lab_wavelengths(cols: list[str], path: Path, key: str | None = None) -> np.ndarray:
    """The wavelengths (nm) of a lab table's columns: an optional `id`, every other column a
    wavelength, finite and strictly increasing (so `500` and `500.0` are refused as one)."""

    def fail(msg: str, col: str | None = None):
        if col is None:
            return DataError(msg, path, key)
        if key:  # the config key first, then the column: "data.lab_path: column '500' ..."
            return DataError(f"column {col!r} {msg}", path, key)
        return DataError(f"column {msg}", path, col)

    names = [c for c in cols if c != "id"]
    waves = []
    for col in names:
        try:
            waves.append(float(col))
        except ValueError:
            raise fail("is neither `id` nor a wavelength in nm", col) from None
        if not math.isfinite(waves[-1]):
            raise fail("is not a finite wavelength", col)
    if len(waves) < 2:
        raise fail("needs at least 2 wavelength columns")
    for i in range(1, len(waves)):
        if waves[i] == waves[i - 1]:
            raise fail(f"wavelength {waves[i]:g} appears twice", names[i])
        if waves[i] < waves[i - 1]:
            raise fail("wavelength columns must increase")
    return np.array(waves)
