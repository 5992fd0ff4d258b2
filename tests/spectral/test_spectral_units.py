"""Tokenizer, simulator, continuum and retrieval metrics on tiny known cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alchemi_core.alignment import continuum, retrieval, spectral
from alchemi_core.alignment.band_tokenizer import BandTokenizer
from alchemi_core.errors import DataError
from tests.spectral.helpers import WL, synthetic_lab, write_response_sensor


def _tok(**kw) -> BandTokenizer:
    torch.manual_seed(0)
    return BandTokenizer(dim=16, num_frequencies=8, hidden=32, **kw)


def test_tokenizer_maps_any_band_set_into_one_token_space():
    t = _tok()
    a = t.band_features(torch.tensor([490.0, 560.0, 665.0]), torch.tensor([65.0, 35.0, 30.0]))
    b = t.band_features(torch.tensor([560.0, 2200.0]), torch.tensor([35.0, 180.0]))
    ta = t(a, torch.tensor([[0.1, 0.2, 0.3]]))
    tb = t(b, torch.tensor([[0.2, 0.5], [0.2, 0.4]]))
    assert ta.shape == (1, 3, 16) and tb.shape == (2, 2, 16)
    # the same band with the same value gives the same token in either band set
    torch.testing.assert_close(ta[0, 1], tb[0, 0])
    # and a different value gives a different token
    assert not torch.allclose(tb[0, 1], tb[1, 1])


def test_width_matters_unless_centre_only():
    c, narrow, wide = torch.tensor([860.0]), torch.tensor([20.0]), torch.tensor([120.0])
    v = torch.tensor([[0.4]])
    t = _tok()
    assert not torch.allclose(t(t.band_features(c, narrow), v), t(t.band_features(c, wide), v))
    t0 = _tok(use_width=False)
    torch.testing.assert_close(t0(t0.band_features(c, narrow), v), t0(t0.band_features(c, wide), v))


def test_response_curve_of_a_gaussian_matches_its_centre_and_width():
    t_cw, t_r = _tok(), _tok(use_response=True)
    wl, r = spectral.gaussian_responses([700.0, 1600.0], [40.0, 90.0], step=0.5)
    c, f = torch.tensor([700.0, 1600.0]), torch.tensor([40.0, 90.0])
    from_curve = t_r.band_features(c, f, (torch.tensor(wl).float(), torch.tensor(r).float()))
    torch.testing.assert_close(from_curve, t_cw.band_features(c, f), atol=5e-3, rtol=0)


def test_simulated_band_value_by_hand(tmp_path):
    # linear spectrum rho = wl / 1000 on a 10 nm grid; boxcar band 500-520 nm -> mean 0.51
    lab_wl = np.arange(400.0, 701.0, 10.0)
    rho = torch.tensor(lab_wl / 1000.0)[None]
    wl = np.arange(495.0, 526.0, 1.0)
    r = ((wl >= 500) & (wl <= 520)).astype(float)[None]
    s = spectral.make_sensor("box", ["b1"], [510.0], [20.0], wl, r)
    m = torch.tensor(spectral.band_matrix(s, lab_wl))
    value = spectral.simulate(rho, m, 0.0)
    assert value.item() == pytest.approx(0.51, abs=1e-9)
    # a step spectrum: 0.2 below 505 nm, 0.6 from 510 nm (linear in between on the lab grid)
    step = np.where(lab_wl <= 500, 0.2, 0.6)
    step[lab_wl == 510] = 0.6
    # hand integral over 500..520 of the interpolated curve, trapezoid-free 1 nm sum:
    # 500: 0.2, 501..509: 0.2 + 0.04 k, 510..520: 0.6 -> (0.2 + sum(0.24..0.56) + 11 * 0.6) / 21
    expect = (0.2 + sum(0.2 + 0.04 * k for k in range(1, 10)) + 11 * 0.6) / 21
    got = spectral.simulate(torch.tensor(step)[None], m, 0.0).item()
    assert got == pytest.approx(expect, abs=1e-9)


def test_gaps_make_a_band_missing_and_noise_is_multiplicative(tmp_path):
    lab_wl = np.arange(400.0, 701.0, 10.0)
    rho = torch.full((1, len(lab_wl)), 0.5, dtype=torch.float64)
    rho[0, (lab_wl >= 480) & (lab_wl <= 540)] = torch.nan
    s = spectral.make_sensor("g", ["in_gap", "clear"], [510.0, 620.0], [20.0, 20.0])
    m = torch.tensor(spectral.band_matrix(s, lab_wl))
    out = spectral.simulate(rho, m, 0.0)
    assert torch.isnan(out[0, 0]) and out[0, 1].item() == pytest.approx(0.5)
    many = spectral.simulate(rho[:, :].repeat(20000, 1), m, 0.03, torch.Generator().manual_seed(0))
    rel = many[:, 1] / 0.5 - 1
    assert rel.std().item() == pytest.approx(0.03, rel=0.05) and abs(rel.mean().item()) < 1e-3


def test_sensor_tables_and_their_errors(tmp_path):
    path = write_response_sensor(tmp_path / "s.csv", [560.0, 860.0], [30.0, 40.0])
    s = spectral.load_sensor(path)
    assert s.bands == ["B1", "B2"]
    np.testing.assert_allclose(s.centres, [560, 860], atol=0.5)
    np.testing.assert_allclose(s.fwhms, [30, 40], atol=2.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("band,centre_nm\nb1,500\n")
    with pytest.raises(DataError, match="fwhm_nm"):
        spectral.load_sensor(bad)
    lab = tmp_path / "lab.csv"
    lab.write_text("id,400,oops\na,0.1,0.2\n")
    with pytest.raises(DataError, match="oops"):
        spectral.load_lab(lab)


def test_continuum_removal_matches_spectral():
    sp = pytest.importorskip("spectral")
    df = synthetic_lab(20, gap=(5000, 5001))  # no gaps: spectral's hull has none
    values = df.drop(columns="id").to_numpy()
    ours = continuum.remove_continuum(WL, values)
    theirs = sp.remove_continuum(values, WL)
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)
    depth = continuum.band_depths(WL, values, [(600.0, 760.0)])
    assert depth.shape == (20, 1) and (depth >= 0).all() and (depth <= 1).all()


def test_retrieval_metrics_on_a_known_case():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # rank 1
            [0.8, 0.5, 0.1],  # rank 2
            [0.7, 0.6, 0.2],  # rank 3
        ]
    )
    m = retrieval.retrieval_metrics(scores, k=2)
    assert m == {
        "top1": pytest.approx(1 / 3),
        "recall_at_2": pytest.approx(2 / 3),
        "mean_rank": pytest.approx(2.0),
        "n": 3,
    }
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert retrieval.retrieval_metrics(retrieval.cosine_scores(q, q))["top1"] == 1.0
    assert retrieval.retrieval_metrics(retrieval.neg_l2_scores(q, q.flip(0)))["top1"] == 0.0
    t = torch.tensor([[1.0, 0.0, float("nan")]])
    assert retrieval.sam_deg(torch.tensor([[1.0, 1.0, 5.0]]), t) == pytest.approx(45.0)
    assert retrieval.rmse(torch.tensor([[2.0, 0.0, 9.0]]), t) == pytest.approx(np.sqrt(0.5))


def test_continuum_rows_at_once_match_one_at_a_time():
    """The batched hull against a plain per-row monotone chain, with NaNs skipped per row."""

    def one_row(x, y):
        ok = np.flatnonzero(np.isfinite(y))
        hull: list[int] = []
        for i in ok:
            while len(hull) >= 2:
                a, b = hull[-2], hull[-1]
                if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) < 0:
                    break
                hull.pop()
            hull.append(i)
        return hull

    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(400, 2500, 60))
    y = rng.uniform(0.1, 0.9, (40, 60))
    y[rng.random(y.shape) < 0.2] = np.nan
    y[3] = np.nan  # a row with nothing finite stays NaN
    y[4, :-1] = np.nan  # one finite point: its own continuum
    hulls = continuum.upper_hulls(x, y)
    assert [h.tolist() for h in hulls] == [one_row(x, row) for row in y]
    removed = continuum.remove_continuum(x, y)
    assert np.isnan(removed[3]).all() and removed[4, -1] == 1.0
    assert np.array_equal(np.isnan(removed), np.isnan(y))
    assert np.nanmax(removed) <= 1.0 + 1e-12  # nothing lies above its continuum
