"""The quality levers of the alignment stack on tiny known cases: the cycle head's interpolation
prior, brightness normalisation, the learning-rate schedule and fused retrieval scores."""

from __future__ import annotations

import math

import torch

from alchemi_core.alignment import retrieval
from alchemi_core.alignment.band_tokenizer import BandTokenizer
from alchemi_core.alignment.model import interp_bands
from alchemi_core.alignment.trainer import scheduled_lr

NAN = float("nan")


def test_interp_bands_by_hand():
    centres = torch.tensor([500.0, 600.0, 800.0])
    values = torch.tensor([[1.0, 2.0, 4.0], [1.0, NAN, 4.0], [NAN, NAN, NAN]])
    grid = torch.tensor([400.0, 500.0, 550.0, 700.0, 900.0])
    out = interp_bands(centres, values, grid)
    expected = torch.tensor(
        [
            [1.0, 1.0, 1.5, 3.0, 4.0],  # constant beyond the outer bands
            [1.0, 1.0, 1.5, 3.0, 4.0],  # the missing 600 nm band is skipped: 1 -> 4 over 300 nm
            [0.0, 0.0, 0.0, 0.0, 0.0],  # nothing read: no prior
        ]
    )
    torch.testing.assert_close(out, expected)


def test_normalize_separates_shape_from_brightness():
    torch.manual_seed(0)
    t = BandTokenizer(dim=16, num_frequencies=8, hidden=32, normalize=True)
    feats = t.band_features(torch.tensor([490.0, 560.0, 665.0]), torch.tensor([65.0, 35.0, 30.0]))
    v = torch.tensor([[0.1, 0.2, NAN]])
    dark, bright = t(feats, v), t(feats, 3 * v)
    assert not torch.allclose(dark, bright)  # brightness is still seen...
    with torch.no_grad():
        t.mlp[0].weight[:, -1] = 0  # ...through the log-mean feature only
    torch.testing.assert_close(t(feats, v), t(feats, 3 * v))


def test_warmup_then_cosine_schedule():
    lr = [scheduled_lr(s, 1.0, 4, 104, "cosine") for s in range(104)]
    assert lr[:4] == [0.25, 0.5, 0.75, 1.0]
    assert math.isclose(lr[54], 0.5) and lr[-1] < 1e-3
    assert all(a >= b for a, b in zip(lr[3:], lr[4:], strict=False))
    assert scheduled_lr(50, 2e-3, 0, 100, "constant") == 2e-3


def test_fused_scores_rank_by_both():
    # query 0: cosine prefers key 1 slightly, L2 prefers key 0 strongly -> fused picks key 0
    cos = torch.tensor([[0.50, 0.51, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    l2 = torch.tensor(
        [[0.0, -9.0, -9.0], [-9.0, 0.0, -9.0], [-9.0, -9.0, 0.0]], dtype=torch.float64
    )
    assert retrieval.retrieval_metrics(cos)["top1"] < 1
    assert retrieval.retrieval_metrics(retrieval.fused_scores(cos, l2))["top1"] == 1.0


def test_cycle_head_is_a_residual_over_the_interpolation_prior():
    from alchemi_core.alignment.config import AlignModel
    from alchemi_core.alignment.model import AlignmentModel

    torch.manual_seed(0)
    grid = torch.tensor([450.0, 550.0, 650.0, 750.0])
    tok = BandTokenizer(dim=16, num_frequencies=8, hidden=32)
    model = AlignmentModel(
        tok, AlignModel(depth=1, embed_dim=8), 4, 16, lab_wavelengths=grid, prior="interp"
    )
    centres, values = torch.tensor([500.0, 700.0]), torch.tensor([[0.2, 0.6], [0.3, NAN]])
    feats = tok.band_features(centres, torch.tensor([40.0, 40.0]))
    prior = torch.tensor([[0.2, 0.3, 0.5, 0.6], [0.3, 0.3, 0.3, 0.3]])
    assert not torch.allclose(model.encode_sensor(feats, values, centres)[1]["cycle"], prior)
    with torch.no_grad():
        model.cycle[-1].weight.zero_()
        model.cycle[-1].bias.zero_()
    torch.testing.assert_close(model.encode_sensor(feats, values, centres)[1]["cycle"], prior)
