"""Continuum removal: the continuum is the upper convex hull of a spectrum, interpolated
linearly between its vertices; band depth is 1 - R / continuum."""

from __future__ import annotations

import numpy as np


def upper_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the upper convex hull vertices of points (x increasing)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b when it lies on or below the segment a -> i
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.asarray(hull)


def continuum(wavelengths: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    """The continuum of one spectrum (NaNs are skipped and stay NaN)."""
    x = np.asarray(wavelengths, dtype=np.float64)
    y = np.asarray(spectrum, dtype=np.float64)
    ok = np.isfinite(y)
    out = np.full_like(y, np.nan)
    if ok.sum() == 0:
        return out
    xs, ys = x[ok], y[ok]
    h = upper_hull(xs, ys)
    out[ok] = np.interp(xs, xs[h], ys[h])
    return out


def remove_continuum(wavelengths: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """R / continuum for one spectrum [L] or many [N, L]."""
    s = np.asarray(spectra, dtype=np.float64)
    flat = s.reshape(-1, s.shape[-1])
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        c = continuum(wavelengths, row)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[i] = row / c
    return out.reshape(s.shape)


def band_depths(
    wavelengths: np.ndarray, spectra: np.ndarray, windows: list[tuple[float, float]]
) -> np.ndarray:
    """[N, F]: the largest 1 - R/continuum inside each (left_nm, right_nm) window."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    removed = remove_continuum(wl, spectra).reshape(-1, len(wl))
    depth = 1.0 - removed
    out = np.zeros((depth.shape[0], len(windows)))
    for j, (lo, hi) in enumerate(windows):
        inside = (wl >= lo) & (wl <= hi)
        if not inside.any():
            raise ValueError(f"no lab wavelength in {lo}-{hi} nm")
        win = depth[:, inside]
        out[:, j] = np.where(np.isfinite(win).any(1), np.nanmax(np.nan_to_num(win, nan=-1), 1), 0)
    return np.clip(out, 0.0, 1.0)
