"""`alchemi prepare-spectra`: real spectra and sensors from installed packages, offline.

Lab library: earthlib's 7,261 reflectance spectra (MIT), 400-2450 nm at 10 nm; its
water-absorption bands are absent columns. lab_labelled.* is the same table with earthlib's
class labels as text columns LEVEL_1..3 (for `align eval --labels`; training reads lab.*, whose
columns are all wavelengths). Sensors: relative spectral responses from pyrsr (Apache-2.0) and Py6S (Sentinel-3 OLCI), written as `wavelength_nm` + one column per band.
Bands outside the lab range (thermal, most of a band below 400 nm) are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alchemi_core.errors import DataError
from alchemi_core.output_plan import OutputPlan

# file name -> (package, satellite, instrument) for pyrsr
PYRSR = {
    "landsat8_oli": ("Landsat-8", "OLI_TIRS"),
    "sentinel2a_msi": ("Sentinel-2A", "MSI"),
    "modis_terra": ("Terra", "MODIS"),
    "spot5_hrg": ("SPOT-5", "HRG1"),
    "rapideye": ("RapidEye", "MSI"),
}
TRAIN = ["landsat8_oli", "sentinel2a_msi", "modis_terra"]
HELD_OUT = ["sentinel3a_olci", "spot5_hrg", "rapideye"]
LAB_RANGE = (400.0, 2450.0)
LABELS = ("LEVEL_1", "LEVEL_2", "LEVEL_3")  # text columns of lab_labelled.* (class labels)


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"needs the {module!r} package: pip install 'alchemi[spectra]'", "prepare-spectra"
        ) from None


def earthlib_table() -> pd.DataFrame:
    earthlib = _need("earthlib")
    envi = _need("spectral.io.envi")
    folder = Path(earthlib.__file__).parent / "data"
    lib = envi.open(str(folder / "spectra.sli.hdr"), str(folder / "spectra.sli"))
    wl_nm = np.round(np.asarray(lib.bands.centers, dtype=float) * 1000.0, 1)
    names = pd.read_csv(folder / "spectra.csv")["NAME"].astype(str)
    df = pd.DataFrame(np.asarray(lib.spectra, dtype=np.float32), columns=[f"{w:g}" for w in wl_nm])
    df.insert(0, "id", [f"{i}_{n}" for i, n in enumerate(names)])
    return df


def earthlib_labels() -> pd.DataFrame:
    """earthlib's class labels, one row per spectrum: LEVEL_1 (2 classes), LEVEL_2 (5),
    LEVEL_3 (26)."""
    folder = Path(_need("earthlib").__file__).parent / "data"
    return pd.read_csv(folder / "spectra.csv")[list(LABELS)].astype(str)


def _table(wl: np.ndarray, curves: dict[str, np.ndarray]) -> pd.DataFrame:
    keep = {}
    for band, r in curves.items():
        r = np.clip(np.nan_to_num(np.asarray(r, dtype=float)), 0, None)
        if r.max() <= 0:
            continue
        inside = (wl >= LAB_RANGE[0]) & (wl <= LAB_RANGE[1])
        if (r * inside).sum() >= 0.5 * r.sum():
            keep[band] = r / r.max()
    support = np.flatnonzero(np.any([r > 0 for r in keep.values()], axis=0))
    lo, hi = max(support[0] - 1, 0), min(support[-1] + 2, len(wl))
    df = pd.DataFrame({b: r[lo:hi] for b, r in keep.items()})
    df.insert(0, "wavelength_nm", wl[lo:hi])
    return df


def pyrsr_table(satellite: str, instrument: str) -> pd.DataFrame:
    pyrsr = _need("pyrsr")
    rsr = pyrsr.RSR(satellite, instrument)
    wl = np.asarray(rsr.rsrs_wvl, dtype=float)
    return _table(wl, {f"B{b}": rsr.rsrs_norm01[b] for b in rsr.rsrs_norm01})


def olci_table() -> pd.DataFrame:
    _need("Py6S")
    from Py6S import PredefinedWavelengths as P

    wl = np.arange(380.0, 1100.0, 2.5)
    curves = {}
    for i in range(1, 22):
        _, start, _end, values = getattr(P, f"S3A_OLCI_{i:02d}")
        grid = start * 1000.0 + 2.5 * np.arange(len(values))
        curves[f"Oa{i:02d}"] = np.interp(wl, grid, values, left=0.0, right=0.0)
    return _table(wl, curves)


def _write(plan: OutputPlan, df: pd.DataFrame, path: Path, fmt: str) -> str:
    if fmt == "parquet":
        plan.write(path, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        plan.write(path, lambda tmp: df.to_csv(tmp, index=False))
    return str(path)


def prepare(out: str | Path, fmt: str = "parquet") -> dict:
    """Every file or none (one OutputPlan): a failure leaves no half-written table."""
    out = Path(out)
    names = [*PYRSR, "sentinel3a_olci"]
    plan = OutputPlan("command line")
    plan.add(out / f"lab.{fmt}", "--out")
    plan.add(out / f"lab_labelled.{fmt}", "--out")
    for name in names:
        plan.add(out / "sensors" / f"{name}.csv", "--out")
    lab = earthlib_table()
    labelled = pd.concat([lab, earthlib_labels()], axis=1)
    tables = {name: pyrsr_table(*PYRSR[name]) for name in PYRSR}
    tables["sentinel3a_olci"] = olci_table()
    with plan:
        written = {"lab": _write(plan, lab, out / f"lab.{fmt}", fmt), "n_spectra": len(lab)}
        written["lab_labelled"] = _write(plan, labelled, out / f"lab_labelled.{fmt}", fmt)
        written["sensors"] = {}
        for name, df in tables.items():
            written["sensors"][name] = {
                "path": _write(plan, df, out / "sensors" / f"{name}.csv", "csv"),
                "bands": len(df.columns) - 1,
                "held_out": name in HELD_OUT,
            }
    return written
