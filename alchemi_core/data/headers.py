"""Cheap data checks for `alchemi config validate`: files exist and hold the named columns.

Only a CSV's header line, a parquet file's schema or a .npy file's header is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alchemi_core.data.columns import lab_wavelengths, unique_columns
from alchemi_core.errors import DataError
from alchemi_core.tabular.loader import SUFFIXES, check_file, load_cardinalities, require_columns


def check_table(path: str | Path, data) -> None:
    """A CSV/parquet file holds every column of `data.columns` (and the categoricals map)."""
    cols = data.columns
    path = check_file(path, SUFFIXES, "table")
    require_columns(unique_columns(path), cols.numerical + cols.categorical + cols.embeddings, path)
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


# -- spectral tables (the alignment and MAE kinds; formats in data/spectral.py) ---------------


def _header(path: str | Path, what: str, key: str) -> tuple[Path, list[str]]:
    """The file at config key `key` exists, is a table, and its column names."""
    try:
        path = check_file(path, SUFFIXES, what)
        return path, unique_columns(path, key)
    except DataError as exc:
        raise DataError(exc.message, exc.file, exc.key or key) from None


def check_lab_header(path: str | Path, key: str) -> None:
    """A lab table: an optional `id`, every other column a wavelength in nm, increasing."""
    path, cols = _header(path, "lab library", key)
    lab_wavelengths(cols, path, key)


def check_sensor_header(path: str | Path, key: str) -> list[str]:
    """A sensor table: `wavelength_nm` + response columns, or band, centre_nm, fwhm_nm.
    Returns its band names when the header holds them (the response-curve form)."""
    path, cols = _header(path, "sensor", key)
    if "wavelength_nm" in cols:
        bands = [c for c in cols if c != "wavelength_nm"]
        if not bands:
            raise DataError("no response columns next to wavelength_nm", path, key)
        return bands
    centre = "centre_nm" if "centre_nm" in cols else "center_nm"
    for col in ("band", centre, "fwhm_nm"):
        if col not in cols:
            raise DataError(
                f"missing column {col!r}; a sensor needs wavelength_nm + response columns, "
                "or band, centre_nm, fwhm_nm",
                path,
                key,
            )
    return []


def check_align_data(data) -> None:
    """An alignment config's `data` section: the lab table's header; the sensors (small
    tables) and measured readings read whole, so a NaN FWHM or a word among the readings is
    refused here; sensor names (file stems) unique."""
    from alchemi_core.alignment import spectral

    check_lab_header(data.lab_path, "data.lab_path")
    sensors = {}
    for name in ("sensor_paths", "eval_sensor_paths"):
        for i, p in enumerate(getattr(data, name)):
            check_sensor_header(p, f"data.{name}.{i}")
            sensor = spectral.load_sensor(p)
            if sensor.name in sensors:
                raise DataError(f"two sensors named {sensor.name!r}", p, f"data.{name}.{i}")
            sensors[sensor.name] = sensor
    if data.pairs_path:  # measured readings of the first sensor: `id` and its bands
        bands = next(iter(sensors.values())).bands
        path, cols = _header(data.pairs_path, "pairs", "data.pairs_path")
        missing = [c for c in ["id", *bands] if c not in cols]
        if missing:
            raise DataError(f"missing column {missing[0]!r}", path, "data.pairs_path")
        df = spectral.read_table(path, "pairs")
        spectral.numbers(df, bands, path, "reading", gaps=True)
