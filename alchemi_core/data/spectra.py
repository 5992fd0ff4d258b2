"""Spectra for the MAE harness: the earthlib library, an ENVI spectral library, or a table.

Every source gives (wavelengths_nm [L], spectra [S, L]) as float32 numpy arrays. Bands that are
missing or non-finite in any spectrum (earthlib leaves the water-absorption bands empty) are
dropped, so the result has no gaps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alchemi_core.errors import DataError

MIN_SPECTRA = 4


def earthlib_paths() -> tuple[Path, Path]:
    try:
        import earthlib
    except ImportError:
        raise DataError("the earthlib package is not installed", "earthlib") from None
    root = Path(earthlib.__file__).parent / "data"
    return root / "spectra.sli.hdr", root / "spectra.sli"


def envi_data_file(hdr: Path, key: str) -> Path:
    """The data file beside an ENVI header: x.sli for x.sli.hdr or for x.hdr."""
    sli = next((p for p in (hdr.with_suffix(""), hdr.with_suffix(".sli")) if p.is_file()), None)
    if sli is None:
        raise DataError("no .sli data file beside the ENVI header", hdr, key)
    return sli


def source_files(source: str, file: str | None = None, key: str = "train.data") -> list[Path]:
    """Every file a spectra source reads (for the run's identity); none for "synthetic"."""
    path = resolve_source(source, file, key)
    if path is None:
        return []
    return [path, envi_data_file(path, key)] if path.suffix == ".hdr" else [path]


def read_envi(hdr: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    from spectral.io import envi

    sli = envi_data_file(hdr, key)
    try:
        lib = envi.open(str(hdr), str(sli))
        spectra = np.asarray(lib.spectra, dtype=np.float64)
        waves = np.asarray(lib.bands.centers, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001  spectral raises many kinds on a bad file
        raise DataError(f"not a readable ENVI spectral library ({exc})", hdr, key) from None
    return waves, spectra


def read_table(path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read the table ({str(exc).splitlines()[0]})", path, key) from None
    df = df.drop(columns=[c for c in df.columns if str(c).lower() == "id"])
    try:
        waves = np.array([float(c) for c in df.columns])
    except ValueError:
        bad = next(c for c in df.columns if not _is_number(c))
        raise DataError(
            f"column {bad!r} is not a wavelength in nm (only 'id' may be named)", path, key
        ) from None
    try:
        spectra = df.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("spectra must be numbers", path, key) from None
    return waves, spectra


def _is_number(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def resolve_source(source: str, file: str | None = None, key: str = "train.data") -> Path | None:
    """The spectra file `source` names (a relative path is tried from the working folder, then
    beside the config `file`); None for "synthetic". Missing or unknown files are DataErrors."""
    if source == "synthetic":
        return None
    if source == "earthlib":
        return earthlib_paths()[0]
    path = Path(source)
    if not path.exists() and file and not path.is_absolute():
        path = Path(file).parent / path
    if not path.is_file():
        raise DataError("spectra file not found", source, key)
    if path.suffix not in (".hdr", ".csv", ".parquet"):
        raise DataError("use an ENVI .hdr, a .csv or a .parquet file", path, key)
    return path


def load_spectra(source: str, file: str | None = None, key: str = "train.data"):
    """(wavelengths nm, spectra) from "earthlib", an ENVI .hdr, or a CSV/parquet table."""
    path = resolve_source(source, file, key)
    if path.suffix == ".hdr":
        waves, spectra = read_envi(path, key)
    else:
        waves, spectra = read_table(path, key)
    where = "earthlib" if source == "earthlib" else str(path)
    if spectra.ndim != 2 or spectra.shape[1] != waves.shape[0]:
        raise DataError("spectra and wavelengths do not match in length", where, key)
    if np.any(np.diff(waves) <= 0):
        raise DataError("wavelengths must increase", where, key)
    # earthlib marks its water-absorption gaps as empty (non-finite or all-zero) bands
    keep = np.isfinite(spectra).all(axis=0) & (spectra != 0).any(axis=0)
    waves, spectra = waves[keep], spectra[:, keep]
    if spectra.shape[0] < MIN_SPECTRA or spectra.shape[1] < 2:
        raise DataError(
            f"need at least {MIN_SPECTRA} spectra of 2 or more usable bands, "
            f"got {spectra.shape[0]} x {spectra.shape[1]}",
            where,
            key,
        )
    if waves.max() < 100:  # micrometres (earthlib's header) -> nm
        waves = waves * 1000.0
    return waves.astype(np.float32), spectra.astype(np.float32)
