"""The Gaussian (optimal-estimation) prior of the alignment model's cycle head.

A Gaussian fitted on the training lab spectra (mean mu, covariance S on the lab grid) and a
sensor's band matrix M (known for any sensor from its responses) give the conditional mean of
the lab spectrum given a reading r:

    x = mu + S M^T (M S M^T + R)^-1 (r - M mu)

with R the reading noise (multiplicative: variance noise^2 * E[reading^2], plus a small floor).
It needs no fitting per sensor, so it holds for sensors never seen in training. Missing
readings (NaN, or bands with no weight on the grid) are dropped per row.
"""

from __future__ import annotations

import torch
from torch import Tensor

FLOOR = 1e-6  # noise variance floor (reflectance^2): keeps the solve well posed at noise 0


def fit(values: Tensor) -> tuple[Tensor, Tensor]:
    """[N, L] spectra (NaN = gap) -> mean [L] and covariance [L, L] (float64; a gap reads as
    the column mean, and a tiny diagonal jitter keeps the covariance positive definite)."""
    x = values.double()
    ok = torch.isfinite(x)
    n = ok.sum(0).clamp_min(1)
    mu = torch.where(ok, x, 0.0).sum(0) / n
    c = torch.where(ok, x - mu, 0.0)
    cov = c.T @ c / max(len(x) - 1, 1)
    jitter = 1e-6 * float(torch.diagonal(cov).mean().clamp_min(1e-12))
    return mu, cov + jitter * torch.eye(len(mu), dtype=cov.dtype)


def conditional_mean(
    reading: Tensor, matrix: Tensor, mu: Tensor, cov: Tensor, noise: float, floor: float = FLOOR
) -> Tensor:
    """Readings [B, K] through band weights `matrix` [K, L] (rows need not sum to 1) ->
    the lab spectrum's conditional mean [B, L] under the Gaussian (mu [L], cov [L, L])."""
    m = matrix.double()
    total = m.sum(1)
    m = m / total.clamp_min(1e-12)[:, None]
    mu, cov = mu.double(), cov.double()
    ok = torch.isfinite(reading) & (total > 0)[None, :]
    mc = m @ cov  # [K, L]
    mm = m @ mu  # [K]
    a = mc @ m.T  # [K, K]
    a = a + torch.diag(noise**2 * (mm**2 + torch.diagonal(a)) + floor)
    eye = torch.eye(len(m), dtype=a.dtype, device=a.device)
    both = ok[:, :, None] & ok[:, None, :]
    a = torch.where(both, a, eye)  # a dropped band: its row and column read as identity
    d = torch.where(ok, reading.double() - mm, 0.0)
    w = torch.linalg.solve(a, d[..., None])[..., 0]  # [B, K]; 0 for dropped bands
    return (mu + w @ mc).to(reading.dtype)
