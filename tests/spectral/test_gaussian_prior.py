"""The cycle head's Gaussian (optimal-estimation) prior on tiny hand-checkable cases."""

from __future__ import annotations

import torch

from alchemi_core.alignment import gaussian_prior

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


def _model(use_width: bool):
    from alchemi_core.alignment.band_tokenizer import BandTokenizer
    from alchemi_core.alignment.config import AlignModel
    from alchemi_core.alignment.model import AlignmentModel

    grid = torch.arange(400.0, 1001.0, 20.0)
    tok = BandTokenizer(dim=16, num_frequencies=8, hidden=32, use_width=use_width)
    cfg = AlignModel(depth=1, embed_dim=8)
    return AlignmentModel(tok, cfg, len(grid), 16, lab_wavelengths=grid, prior="gaussian")


def test_centre_only_model_uses_no_width_in_its_prior():
    from alchemi_core.alignment.spectral import make_sensor

    narrow = make_sensor("n", ["a", "b"], [550, 800], [10, 10])
    wide = make_sensor("w", ["a", "b"], [550, 800], [120, 120])
    with_width, centre_only = _model(True), _model(False)
    assert not torch.allclose(
        with_width.prior_args(narrow)["matrix"], with_width.prior_args(wide)["matrix"]
    )
    torch.testing.assert_close(
        centre_only.prior_args(narrow)["matrix"], centre_only.prior_args(wide)["matrix"]
    )


def test_gaussian_prior_run_is_saved_and_evaluates_from_its_folder(tmp_path):
    from alchemi_core.alignment import api as align_api
    from alchemi_core.alignment import spectral

    from .helpers import tiny_config, write_gaussian_sensor

    sets = {"cycle.prior": "gaussian", "cycle.prior_tokens": True, "trainer.epochs": 1}
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **sets)
    run = align_api.train(cfg)["run_dir"]
    _, model, ckpt = align_api.load_run(run, "last")
    # the checkpoint holds the prior fitted on the training spectra, on the full lab grid
    lab = spectral.load_lab(tmp_path / "d/lab.csv")
    train_idx, _ = spectral.split(len(lab.ids), 0.25, 0)
    mu, cov = gaussian_prior.fit(torch.from_numpy(lab.values[train_idx]))
    torch.testing.assert_close(model.prior_mu, mu.float())
    torch.testing.assert_close(model.prior_cov, cov.float())
    assert ckpt["cycle_wavelengths"] == [float(w) for w in lab.wavelengths]
    # a sensor the run never saw: the prior needs only its responses
    other = write_gaussian_sensor(tmp_path / "other.csv", [450, 700, 1000], [10, 25, 80])
    out = align_api.evaluate(run, tmp_path / "d/lab.csv", other, noise=0.0, which="last")
    assert out["n"] == 96 and 0 < out["sam_deg"] < 90 and out["rmse"] > 0
    # the cycle head is a residual over the prior: without it, the prior itself
    from alchemi_core.alignment import evaluation as ev
    from alchemi_core.alignment.load import cpu_runtime

    with torch.no_grad():
        model.cycle[-1].weight.zero_()
        model.cycle[-1].bias.zero_()
    sensor = spectral.load_sensor(other)
    m = torch.from_numpy(spectral.band_matrix(sensor, lab.wavelengths)).float()
    reading = spectral.simulate(torch.from_numpy(lab.values[:5]), m, 0.0)
    feats = ev.band_feats(model, sensor, "cpu")
    _, heads = ev.embed(model, "sensor", feats, reading, cpu_runtime(), sensor=sensor)
    expected = gaussian_prior.conditional_mean(reading, m, model.prior_mu, model.prior_cov, 0.01)
    torch.testing.assert_close(heads["cycle"], expected, atol=1e-5, rtol=1e-4)
    # ... which reads back (through the band matrix) about what the sensor read
    back = heads["cycle"] @ (m / m.sum(1, keepdim=True)).T
    torch.testing.assert_close(back, reading, atol=0.0, rtol=0.03)
