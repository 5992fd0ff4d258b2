"""The SAE's initialisation and SAELoss's epoch metrics, checked by hand on small tensors."""

from __future__ import annotations

import pytest
import torch

from alchemi_core.tabular.sae import SAE
from alchemi_core.tabular.sae_loss import SAELoss


def test_sae_loss_metrics_match_a_hand_computation():
    loss = SAELoss(sparsity_weight=0.5)
    x1 = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    x2 = torch.tensor([[-1.0, 4.0]])
    r1 = torch.tensor([[1.0, 1.0], [2.0, 0.0]])  # squared errors 0+1, 1+0
    r2 = torch.tensor([[0.0, 4.0]])  # 1+0
    f1 = torch.tensor([[0.0, 2.0, 0.0], [0.0, 1.0, 0.0]])  # latent 0 and 2 silent
    f2 = torch.tensor([[3.0, 0.0, 0.0]])  # latent 0 fires here; latent 2 never does
    norms = torch.tensor([1.0, 2.0, 1.0])
    loss.reset()
    t1 = loss({"input": x1, "reconstruction": r1, "latents": f1, "decoder_norms": norms}, {})
    loss({"input": x2, "reconstruction": r2, "latents": f2, "decoder_norms": norms}, {})
    assert t1["reconstruction_loss"].item() == pytest.approx(2 / 4)
    assert t1["sparsity_loss"].item() == pytest.approx((2 * 2 + 1 * 2) / 2)
    assert t1["l0"].item() == pytest.approx(1.0)
    assert t1["loss"].item() == pytest.approx(0.5 + 0.5 * 3.0)
    x = torch.cat([x1, x2])
    sst = ((x - x.mean(0)) ** 2).sum().item()  # column 0: mean 1 -> 8; column 1: mean 2 -> 8
    assert sst == pytest.approx(16.0)
    epoch = loss.epoch_metrics()
    assert epoch["fve"] == pytest.approx(1 - 3 / 16)
    assert epoch["dead_fraction"] == pytest.approx(1 / 3)
    loss.reset()
    assert loss.epoch_metrics() == {}


def test_sae_b_dec_starts_at_the_first_training_batch_mean():
    torch.manual_seed(0)
    model = SAE(input_dim=3, hidden_dim=6, b_dec_init="mean")
    first = {"embeddings": torch.randn(64, 3) + torch.tensor([5.0, -2.0, 1.0])}
    model.eval()
    model(first)
    assert torch.equal(model.b_dec.detach(), torch.zeros(3))  # eval passes never initialise
    model.train()
    out = model(first)
    assert torch.allclose(model.b_dec.detach(), first["embeddings"].mean(0))
    assert (out["latents"] > 0).any(dim=0).all()  # every latent fires on the centred batch
    model({"embeddings": torch.randn(8, 3)})
    assert torch.allclose(model.b_dec.detach(), first["embeddings"].mean(0))  # only once
    reloaded = SAE(input_dim=3, hidden_dim=6, b_dec_init="mean")
    reloaded.load_state_dict(model.state_dict())
    reloaded.train()(first | {"embeddings": torch.zeros(4, 3)})
    assert torch.allclose(reloaded.b_dec.detach(), first["embeddings"].mean(0))
    norms = model.W_dec.detach().norm(dim=1)
    assert torch.allclose(norms, torch.ones(6))  # unit-norm decoder rows at init
    assert torch.allclose(model.encoder.weight.detach(), model.W_dec.detach())  # encoder = W_dec^T
