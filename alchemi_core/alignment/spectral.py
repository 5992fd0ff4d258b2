"""Spectral data: lab tables, sensor responses, simulated sensor readings, splits.

Lab table (CSV or parquet): one row per sample, an optional `id` column, every other column
named by its wavelength in nm; NaN marks a gap (water-absorption bands). Text columns with other
names (class labels such as earthlib's LEVEL_2) are kept aside in `LabLibrary.labels`.
Sensor table: a `wavelength_nm` column and one relative-response column per band; or columns
`band`, `centre_nm` (or `center_nm`) and `fwhm_nm`, which make Gaussian responses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alchemi_core.data.columns import lab_wavelengths, unique_columns
from alchemi_core.errors import DataError
from alchemi_core.tabular.loader import SUFFIXES, check_file

SIGMA_PER_FWHM = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
GAP_LIMIT = 0.5  # a band with more than half its response weight in lab gaps is missing


@dataclass
class LabLibrary:
    ids: list[str]
    wavelengths: np.ndarray  # [L] nm, increasing
    values: np.ndarray  # [N, L] float32, NaN = gap
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # column -> [N] str

    def subset(self, idx: np.ndarray) -> LabLibrary:
        labels = {k: v[idx] for k, v in self.labels.items()}
        return LabLibrary([self.ids[i] for i in idx], self.wavelengths, self.values[idx], labels)

    def label(self, column: str, path, key: str = "--labels") -> np.ndarray:
        """The [N] class labels of `column` (a DataError naming it if the table has none)."""
        if column not in self.labels:
            have = ", ".join(sorted(self.labels)) or "none"
            raise DataError(f"no label column {column!r} (text columns: {have})", path, key)
        return self.labels[column]


@dataclass
class Sensor:
    name: str
    bands: list[str]
    centres: np.ndarray  # [K] nm
    fwhms: np.ndarray  # [K] nm
    wavelengths: np.ndarray  # [M] nm, the response grid
    responses: np.ndarray  # [K, M], each band's relative response


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    path = check_file(path, SUFFIXES, what)
    unique_columns(path)  # pandas would rename a repeated `x` to `x.1`
    try:
        if SUFFIXES[path.suffix.lower()] == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the file's fault
        raise DataError(f"cannot read {what} table ({type(exc).__name__})", path) from None


def numbers(df: pd.DataFrame, cols: list, path, what: str, gaps: bool = False) -> np.ndarray:
    """Columns `cols` as float64 [rows, cols]: every value a number and finite (`gaps`: NaN or
    an empty cell is allowed, read as a gap); a problem names the file and the column."""
    try:
        out = df[cols].to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        bad = next(c for c in cols if not pd.api.types.is_numeric_dtype(df[c]))
        raise DataError(f"{what} values must be numbers", path, str(bad)) from None
    wrong = np.isinf(out) if gaps else ~np.isfinite(out)
    if wrong.any():
        row, col = (int(i[0]) for i in np.nonzero(wrong))
        raise DataError(
            f"{what} value {out[row, col]} at row {row} is not a finite number",
            path,
            str(cols[col]),
        )
    return out


def load_lab(path: str | Path, labels: str | None = None) -> LabLibrary:
    """`labels`: a column read as class labels whatever its type (text columns with names
    that are not wavelengths always are)."""
    df = read_table(path, "lab library")
    text = [
        c for c in df.columns if c == labels or (c != "id" and not _is_float(c) and _is_text(df[c]))
    ]
    classes = {str(c): df.pop(c).astype(str).to_numpy() for c in text}
    wl = lab_wavelengths([str(c) for c in df.columns], Path(path))
    ids = df.pop("id").astype(str).tolist() if "id" in df.columns else None
    if len(df) == 0:
        raise DataError("needs at least 1 row", path)
    values = numbers(df, list(df.columns), path, "reflectance", gaps=True).astype(np.float32)
    ids = ids or [str(i) for i in range(len(df))]
    return LabLibrary(ids, wl, values, classes)


def _is_float(name) -> bool:
    try:
        float(name)
        return True
    except ValueError:
        return False


def _is_text(col: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def gaussian_responses(centres, fwhms, step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    c, f = np.asarray(centres, float), np.asarray(fwhms, float)
    sig = f * SIGMA_PER_FWHM
    wl = np.arange(np.floor((c - 3 * sig).min()), np.ceil((c + 3 * sig).max()) + step, step)
    return wl, np.exp(-0.5 * ((wl[None] - c[:, None]) / sig[:, None]) ** 2)


def describe_responses(wl: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (response-weighted mean) and FWHM (span above half the peak) of each band."""
    w = np.clip(r, 0, None)
    centres = (w * wl).sum(1) / w.sum(1)
    fwhms = np.empty(len(r))
    for k, row in enumerate(w):
        above = wl[row >= 0.5 * row.max()]
        fwhms[k] = max(above.max() - above.min(), float(np.median(np.diff(wl))))
    return centres, fwhms


def make_sensor(name, bands, centres, fwhms, wl=None, responses=None) -> Sensor:
    if responses is None:
        wl, responses = gaussian_responses(centres, fwhms)
    return Sensor(
        name,
        list(bands),
        np.asarray(centres, float),
        np.asarray(fwhms, float),
        np.asarray(wl, float),
        np.asarray(responses, float),
    )


def load_sensor(path: str | Path) -> Sensor:
    df = read_table(path, "sensor")
    name = Path(path).stem
    if "wavelength_nm" in df.columns:
        bands = [c for c in df.columns if c != "wavelength_nm"]
        if not bands:
            raise DataError("no response columns next to wavelength_nm", path)
        wl = numbers(df, ["wavelength_nm"], path, "wavelength")[:, 0]
        r = np.nan_to_num(numbers(df, bands, path, "response", gaps=True).T)
        if np.any(np.diff(wl) <= 0):
            raise DataError("must increase", path, "wavelength_nm")
        empty = [b for b, row in zip(bands, r, strict=True) if row.max() <= 0]
        if empty:
            raise DataError("band has no positive response", path, empty[0])
        centres, fwhms = describe_responses(wl, r)
        return make_sensor(name, bands, centres, fwhms, wl, r)
    centre_col = "centre_nm" if "centre_nm" in df.columns else "center_nm"
    for col in ("band", centre_col, "fwhm_nm"):
        if col not in df.columns:
            raise DataError(
                "missing column; a sensor needs wavelength_nm + response columns, "
                "or band, centre_nm, fwhm_nm",
                path,
                col,
            )
    c = numbers(df, [centre_col], path, "centre")[:, 0]
    f = numbers(df, ["fwhm_nm"], path, "FWHM")[:, 0]
    if np.any(f <= 0):
        raise DataError("FWHMs must be positive", path, "fwhm_nm")
    return make_sensor(name, df["band"].astype(str), c, f)


def band_matrix(sensor: Sensor, lab_wl: np.ndarray) -> np.ndarray:
    """[K, L] weights: band value = M @ spectrum / M.sum(1), the spectrum linearly interpolated
    from the lab grid onto the response grid, then integrated against the response.

    Lab gaps (a spacing over 2.5x the median, e.g. missing water-absorption columns) are not
    bridged; a band with more than half its response outside the covered lab range gets a zero
    row (it reads as missing)."""
    wl = sensor.wavelengths
    dl = np.gradient(wl) if len(wl) > 1 else np.ones(1)
    j = np.clip(np.searchsorted(lab_wl, wl, side="right") - 1, 0, len(lab_wl) - 2)
    spacing = np.diff(lab_wl)
    inside = (wl >= lab_wl[0]) & (wl <= lab_wl[-1]) & (spacing[j] <= 2.5 * np.median(spacing))
    t = np.clip((wl - lab_wl[j]) / spacing[j], 0, 1)
    interp = np.zeros((len(wl), len(lab_wl)))
    rows = np.arange(len(wl))
    interp[rows, j] += (1 - t) * inside
    interp[rows, j + 1] += t * inside
    total = (sensor.responses * dl).sum(1)
    m = (sensor.responses * dl) @ interp
    m[m.sum(1) < GAP_LIMIT * total] = 0.0
    if not m.any():
        raise DataError("no band of the sensor lies inside the lab wavelengths", sensor.name)
    return m


def simulate(
    values: torch.Tensor, matrix: torch.Tensor, noise: float, gen: torch.Generator | None = None
) -> torch.Tensor:
    """[N, L] lab spectra (NaN gaps) -> [N, K] readings; NaN where a band falls in a gap.

    Noise is multiplicative Gaussian: reading * (1 + noise * N(0, 1))."""
    ok = torch.isfinite(values).to(matrix.dtype)
    num = torch.nan_to_num(values).to(matrix.dtype) @ matrix.T
    den = ok @ matrix.T
    out = num / den.clamp_min(1e-12)
    full = matrix.sum(1)
    out = torch.where((den >= GAP_LIMIT * full) & (full > 0), out, torch.nan)
    if noise > 0:
        eps = torch.randn(out.shape, generator=gen, dtype=out.dtype, device=out.device)
        out = out * (1 + noise * eps)
    return out


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    if n_val >= n:
        raise DataError(
            f"val_fraction leaves no training spectra ({n} rows)", None, "data.val_fraction"
        )
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def random_sensor(gen: torch.Generator, lo: float, hi: float, name: str = "random") -> Sensor:
    """A Gaussian band set over a random sub-range of [lo, hi] (at least 300 nm): 4-24 bands,
    centres uniform in it, FWHM log-uniform 5-150 nm."""

    def u() -> float:
        return float(torch.rand(1, generator=gen, dtype=torch.float64))

    top = lo + 300 + (hi - lo - 300) * u()
    k = int(torch.randint(4, 25, (1,), generator=gen))
    c = np.sort((lo + (top - lo) * torch.rand(k, generator=gen, dtype=torch.float64)).numpy())
    f = np.exp(
        math.log(5) + math.log(30) * torch.rand(k, generator=gen, dtype=torch.float64).numpy()
    )
    return make_sensor(name, [f"b{i}" for i in range(k)], c, f)


def drop_bands(
    readings: torch.Tensor, centres: torch.Tensor, dropout: float, cutoff_prob: float
) -> torch.Tensor:
    """Training augmentation: readings with some bands set to NaN (read as missing).

    Each band goes with probability `dropout`; with probability `cutoff_prob` every band above
    a random wavelength in [700, 2500] nm goes too. A row keeps at least its first valid band."""
    drop = torch.rand(readings.shape) < dropout
    if cutoff_prob and float(torch.rand(1)) < cutoff_prob:
        drop |= (centres > 700 + 1800 * float(torch.rand(1)))[None, :].cpu()
    out = readings.masked_fill(drop.to(readings.device), float("nan"))
    valid = torch.isfinite(out)
    empty = ~valid.any(1)
    if empty.any():
        out[empty] = readings[empty]
    return out
