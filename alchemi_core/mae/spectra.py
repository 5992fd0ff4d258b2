"""Spectra for the MAE harness: earthlib's library or a lab table, as gap-free arrays.

Sources: "earthlib" (read by data/prepare_spectra.py, needs the `spectra` extra) or a lab
library table (CSV or parquet, read by data/spectral.py: an optional `id` column, every other
column a wavelength in nm). Bands that are a gap (NaN) in any spectrum, or zero in all of them,
are dropped, so every token window holds real values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alchemi_core.errors import DataError

MIN_SPECTRA = 4
EARTHLIB_FILES = ("spectra.sli.hdr", "spectra.sli", "spectra.csv")


def resolve_source(source: str, file: str | None = None, key: str = "train.data") -> Path | None:
    """The lab table `source` names (a relative path is tried from the working folder, then
    beside the config `file`); None for "synthetic" and "earthlib"."""
    if source in ("synthetic", "earthlib"):
        return None
    path = Path(source)
    if not path.exists() and file and not path.is_absolute():
        path = Path(file).parent / path
    if not path.is_file():
        raise DataError("spectra file not found", source, key)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise DataError("use earthlib, synthetic, or a .csv or .parquet lab table", path, key)
    return path


def source_files(source: str, file: str | None = None, key: str = "train.data") -> list[Path]:
    """Every file a spectra source reads (the run's identity hashes them)."""
    if source == "earthlib":
        from alchemi_core.alignment.prepare_spectra import _need

        folder = Path(_need("earthlib").__file__).parent / "data"
        return [folder / name for name in EARTHLIB_FILES]
    path = resolve_source(source, file, key)
    return [path] if path else []


def load_spectra(source: str, file: str | None = None, key: str = "train.data"):
    """(wavelengths nm [L], spectra [S, L]) as float32 arrays, gap bands dropped."""
    if source == "earthlib":
        from alchemi_core.alignment.prepare_spectra import earthlib_table

        df = earthlib_table().drop(columns="id")
        waves = np.array([float(c) for c in df.columns])
        spectra, where = df.to_numpy(dtype=np.float64), "earthlib"
    else:
        from alchemi_core.alignment.spectral import load_lab

        path = resolve_source(source, file, key)
        lab = load_lab(path)
        waves, spectra, where = lab.wavelengths, lab.values.astype(np.float64), str(path)
    keep = np.isfinite(spectra).all(axis=0) & (spectra != 0).any(axis=0)
    waves, spectra = waves[keep], spectra[:, keep]
    if spectra.shape[0] < MIN_SPECTRA or spectra.shape[1] < 2:
        raise DataError(
            f"need at least {MIN_SPECTRA} spectra of 2 or more usable bands, "
            f"got {spectra.shape[0]} x {spectra.shape[1]}",
            where,
            key,
        )
    return waves.astype(np.float32), spectra.astype(np.float32)
