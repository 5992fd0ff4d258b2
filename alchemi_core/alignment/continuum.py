"""Continuum removal: the continuum is the upper convex hull of a spectrum, interpolated
linearly between its vertices; band depth is 1 - R / continuum."""

from __future__ import annotations

import numpy as np


def upper_hulls(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Per row of y [N, L]: the indices of its upper convex hull's vertices (x increasing).

    The monotone chain, run on every row at once: one pass over the columns, each row with its
    own stack. A NaN point is skipped in its row. The same float operations as one row at a time.
    """
    n, length = y.shape
    stack = np.zeros((n, length), dtype=np.int64)
    top = np.zeros(n, dtype=np.int64)  # each row's stack height
    finite = np.isfinite(y)
    for i in range(length):
        rows = np.flatnonzero(finite[:, i] & (top >= 2))
        while rows.size:
            a, b = stack[rows, top[rows] - 2], stack[rows, top[rows] - 1]
            ya, yb = y[rows, a], y[rows, b]
            # drop b when it lies on or below the segment a -> i
            cross = (x[b] - x[a]) * (y[rows, i] - ya) - (yb - ya) * (x[i] - x[a])
            rows = rows[cross >= 0]
            top[rows] -= 1
            rows = rows[top[rows] >= 2]
        push = np.flatnonzero(finite[:, i])
        stack[push, top[push]] = i
        top[push] += 1
    return [stack[r, : top[r]] for r in range(n)]


def remove_continuum(wavelengths: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """R / continuum for one spectrum [L] or many [N, L] (NaNs are skipped and stay NaN)."""
    x = np.asarray(wavelengths, dtype=np.float64)
    s = np.asarray(spectra, dtype=np.float64)
    flat = s.reshape(-1, s.shape[-1])
    out = np.full_like(flat, np.nan)
    for i, hull in enumerate(upper_hulls(x, flat)):
        if hull.size == 0:
            continue
        ok = np.isfinite(flat[i])
        c = np.interp(x[ok], x[hull], flat[i, hull])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[i, ok] = flat[i, ok] / c
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
