"""The cycle head's Gaussian (optimal-estimation) prior on tiny hand-checkable cases."""

from __future__ import annotations

import torch

from alchemi_core.models import gaussian_prior

NAN = float("nan")


def test_fit_is_the_mean_and_covariance():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, cov = gaussian_prior.fit(x)
    torch.testing.assert_close(mu, torch.tensor([2.0, 4.0], dtype=torch.float64))
    expected = torch.tensor([[4.0, 7.0], [7.0, 13.0]], dtype=torch.float64)
    torch.testing.assert_close(cov, expected, atol=1e-4, rtol=0)


def test_by_hand_identity_covariance():
    # S = I, mu = 0, one band reading the first wavelength: x = [r / (1 + R), 0]
    mu, cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    m = torch.tensor([[2.0, 0.0]])  # rows are normalised: the band reads x0
    r = torch.tensor([[0.5]], dtype=torch.float64)
    out = gaussian_prior.conditional_mean(r, m, mu, cov, noise=0.0)
    expected = torch.tensor([[0.5 / (1 + gaussian_prior.FLOOR), 0.0]], dtype=torch.float64)
    torch.testing.assert_close(out, expected)
    # correlated wavelengths: the unread one follows by its covariance, S10 / S00 * r
    cov = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    out = gaussian_prior.conditional_mean(r, m, mu, cov, noise=0.0)
    torch.testing.assert_close(
        out, torch.tensor([[0.5, 0.25]], dtype=torch.float64), atol=1e-5, rtol=0
    )


def test_noise_free_reproduces_the_reading_and_noise_shrinks_to_the_mean():
    g = torch.Generator().manual_seed(0)
    spectra = torch.rand(200, 12, generator=g, dtype=torch.float64).cumsum(1) / 12
    mu, cov = gaussian_prior.fit(spectra)
    m = torch.rand(3, 12, generator=g, dtype=torch.float64)
    mn = m / m.sum(1, keepdim=True)
    r = spectra[:5] @ mn.T
    out = gaussian_prior.conditional_mean(r, m, mu, cov, noise=0.0, floor=1e-12)
    torch.testing.assert_close(out @ mn.T, r, atol=1e-6, rtol=0)  # through M: the reading
    assert not torch.allclose(out, spectra[:5], atol=1e-3)  # 3 bands do not pin 12 values
    noisy = gaussian_prior.conditional_mean(r, m, mu, cov, noise=10.0)
    far = (out - mu).norm(dim=1)
    assert torch.all((noisy - mu).norm(dim=1) < 0.2 * far)  # doubtful readings: near the mean


def test_masked_bands_are_ignored():
    g = torch.Generator().manual_seed(1)
    spectra = torch.rand(100, 8, generator=g, dtype=torch.float64)
    mu, cov = gaussian_prior.fit(spectra)
    m = torch.rand(3, 8, generator=g, dtype=torch.float64)
    m[2] = 0.0  # a band with no weight on the grid (in a gap) reads as missing too
    r = torch.tensor([[0.4, NAN, 0.7], [0.3, 0.6, 0.2]], dtype=torch.float64)
    out = gaussian_prior.conditional_mean(r, m, mu, cov, noise=0.01)
    alone = gaussian_prior.conditional_mean(r[:, :1], m[:1], mu, cov, noise=0.01)
    torch.testing.assert_close(out[0], alone[0])  # row 0: band 0 only
    both = gaussian_prior.conditional_mean(r[1:, :2], m[:2], mu, cov, noise=0.01)
    torch.testing.assert_close(out[1], both[0])  # row 1: bands 0 and 1
    none = gaussian_prior.conditional_mean(
        torch.full((1, 3), NAN, dtype=torch.float64), m, mu, cov, 0.01
    )
    torch.testing.assert_close(none[0], mu)  # nothing read: the prior mean
