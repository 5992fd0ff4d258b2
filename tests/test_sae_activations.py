"""The SAE's activations, AuxK, decoder hygiene and metrics, checked on small tensors by hand."""

from __future__ import annotations

import pytest
import torch

from alchemi_core.errors import ConfigError
from alchemi_core.registry import MODELS
from alchemi_core.tabular.sae import SAE, SAEParams, geometric_median
from alchemi_core.tabular.sae_activations import BatchTopK, JumpReLU, TopK
from alchemi_core.tabular.sae_loss import SAELoss

ACTIVATIONS = [
    {"activation": "relu"},
    {"activation": "topk", "k": 2},
    {"activation": "batchtopk", "k": 2},
    {"activation": "jumprelu"},
]


def test_topk_keeps_each_rows_k_largest():
    z = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-1.0, -2.0, 0.1, -3.0]])
    f = TopK(2)(z)
    assert torch.equal(f, torch.tensor([[3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.1, 0.0]]))


def test_batchtopk_keeps_k_per_row_over_the_batch_and_learns_a_per_row_threshold():
    act = BatchTopK(2)
    z = torch.tensor([[5.0, 4.0, 3.0, 0.0], [1.0, 0.5, 0.0, 0.0]])
    f = act.train()(z)
    # the 4 largest of the batch: 5, 4, 3 (row 0) and 1 (row 1)
    assert torch.equal(f, torch.tensor([[5.0, 4.0, 3.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))
    assert act.threshold.item() == pytest.approx(1.0)  # the smallest kept value
    act(torch.tensor([[3.0, 2.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]))  # smallest kept: 2
    assert act.threshold.item() == pytest.approx(1.5)  # the mean over batches
    act.eval()
    row = torch.tensor([[1.6, 1.4, 3.0, -1.0]])
    alone = act(row)
    assert torch.equal(alone, torch.tensor([[1.6, 0.0, 3.0, 0.0]]))  # > 1.5
    assert torch.equal(act(torch.cat([row, torch.ones(5, 4) * 9]))[:1], alone)  # per row
    assert {"threshold", "batches"} <= set(act.state_dict())


def test_untrained_batchtopk_infers_as_topk():
    act = BatchTopK(1).eval()
    assert torch.equal(act(torch.tensor([[1.0, 2.0]])), torch.tensor([[0.0, 2.0]]))


def test_jumprelu_forward_and_straight_through_gradients():
    act = JumpReLU(3, threshold_init=1.0, bandwidth=0.5)
    z = torch.tensor([[1.1, 0.5, 2.0], [0.9, 3.0, 1.2]], requires_grad=True)
    f = act(z)
    assert torch.allclose(f, torch.tensor([[1.1, 0.0, 2.0], [0.0, 3.0, 1.2]]))
    f.sum().backward()
    assert torch.equal(z.grad, (f > 0).float())  # d/dz = H(z - theta)
    # d/dtheta = -(theta/eps) * rect((z - theta)/eps): rows within 0.25 of theta = 1
    # latent 0: both rows (1.1, 0.9) -> -2 * 2 = -4, times dtheta/dlog = theta = 1
    assert torch.allclose(act.log_threshold.grad, torch.tensor([-4.0, 0.0, -2.0]))
    act.log_threshold.grad = None
    act.penalty(z.detach(), None, None).sum().backward()  # L0: -(1/eps) * rect per row
    assert torch.allclose(act.log_threshold.grad, torch.tensor([-4.0, 0.0, -2.0]))


def test_params_refuse_topk_without_k_and_auxk_on_relu(tmp_path):
    from alchemi_core.config.checks import check_params

    with pytest.raises(ValueError, match="needs k"):
        SAEParams(hidden_dim=4, activation="topk")
    with pytest.raises(ValueError, match="more than hidden_dim"):
        SAEParams(hidden_dim=4, activation="batchtopk", k=5)
    with pytest.raises(ValueError, match="AuxK is for topk"):
        SAEParams(hidden_dim=4, aux_k=2)
    assert SAEParams(hidden_dim=4, k=9).k == 9  # relu ignores k (sweeps cross activations)
    with pytest.raises(ConfigError) as info:
        check_params(MODELS, "SAE", {"hidden_dim": 4, "activation": "topk"}, "f.yaml",
                     "model.params", "model.class")  # fmt: skip
    assert info.value.key == "model.params.k"


def test_geometric_median_resists_an_outlier():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]])
    m = geometric_median(x)
    assert x.mean(0)[0] > 20 and m.norm() < 1.5  # the mean flies off; the median stays inside
    y = torch.tensor([[0.0, 0.0], [1.0, 0.0], [50.0, 0.0]])
    assert torch.allclose(geometric_median(y), torch.tensor([1.0, 0.0]), atol=1e-3)


def test_decoder_gradient_loses_its_parallel_part_and_rows_stay_unit_norm():
    torch.manual_seed(0)
    model = SAE(input_dim=5, hidden_dim=7, activation="topk", k=2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(5):
        out = model.train()({"embeddings": torch.randn(16, 5)})
        loss = (out["reconstruction"] - out["input"]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        model.before_step()
        parallel = (model.W_dec.grad * model.W_dec.detach()).sum(dim=1)
        assert torch.allclose(parallel, torch.zeros(7), atol=1e-6)
        opt.step()
        model.after_step()
        assert torch.allclose(model.W_dec.detach().norm(dim=1), torch.ones(7), atol=1e-6)


def test_auxk_reconstructs_the_residual_from_dead_latents_only():
    torch.manual_seed(0)
    model = SAE(input_dim=4, hidden_dim=6, activation="topk", k=1, aux_k=2, dead_window=8)
    x = {"embeddings": torch.randn(8, 4)}
    first = model.train()(x)
    assert torch.count_nonzero(first["aux_reconstruction"]) == 0  # nobody is dead yet
    out = model(x)  # 8 rows later: a latent is dead unless it fired in this batch
    assert torch.equal(model.rows_since_fired >= 8, ~(out["latents"] > 0).any(0))
    out = model(x)
    dead = (model.rows_since_fired >= 8).clone()
    z = model.pre_activations(x["embeddings"]).detach()
    aux = torch.relu(z).masked_fill(~dead, 0)
    kept = aux.topk(2, dim=1).values.sum()
    assert out["aux_scale"].item() == pytest.approx(min(dead.sum().item() / 2, 1.0))
    terms = SAELoss(sparsity_weight=0.0, aux_weight=0.5)(out, x)
    assert terms["aux_loss"] > 0 and kept > 0
    terms["loss"].backward()
    assert model.encoder.weight.grad[dead].abs().sum() > 0  # the dead latents learn


@pytest.mark.parametrize("params", ACTIVATIONS, ids=lambda p: p["activation"])
def test_each_activation_has_its_sparsity_term(params):
    torch.manual_seed(0)
    model = SAE(input_dim=3, hidden_dim=4, **params).train()
    x = {"embeddings": torch.randn(6, 3)}
    out = model(x)
    f = out["latents"]
    terms = SAELoss(sparsity_weight=2.0)(out, x)
    penalty = {
        "relu": f.sum(1).mean(),  # L1 (unit-norm decoder rows)
        "topk": torch.tensor(0.0),
        "batchtopk": torch.tensor(0.0),
        "jumprelu": (f > 0).float().sum(1).mean(),  # L0
    }[params["activation"]]
    assert terms["sparsity_loss"].item() == pytest.approx(penalty.item(), abs=1e-6)
    assert terms["loss"].item() == pytest.approx(
        (terms["reconstruction_loss"] + 2.0 * penalty).item(), rel=1e-5
    )
    if params["activation"] in ("topk", "batchtopk"):
        assert terms["l0"].item() <= 2.0


def test_sparsity_warm_up_ramps_the_weight_over_epochs():
    torch.manual_seed(0)
    model = SAE(input_dim=3, hidden_dim=4).train()
    x = {"embeddings": torch.randn(6, 3)}
    out = model(x)
    loss = SAELoss(sparsity_weight=1.0, warmup_epochs=4)
    seen = []
    for epoch in (1, 2, 4, 9):
        loss.start_epoch(epoch)
        t = loss(out, x)
        seen.append(((t["loss"] - t["reconstruction_loss"]) / t["sparsity_loss"]).item())
    assert seen == pytest.approx([0.25, 0.5, 1.0, 1.0])
    fresh = SAELoss(sparsity_weight=1.0, warmup_epochs=4)  # validation: never ramped
    t = fresh(out, x)
    assert (t["loss"] - t["reconstruction_loss"]).item() == pytest.approx(t["sparsity_loss"].item())


def test_epoch_metrics_by_hand():
    loss = SAELoss(sparsity_weight=0.0)
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0], [-1.0, 4.0], [1.0, 2.0]])
    r = x + torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])  # SSE 2
    # latent 0 fires on 1 row of 4 (25%), latent 1 on none, latent 2 on 4, latent 3 on 0 of 4
    f = torch.tensor([[1.0, 0, 2, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 3, 0]])
    for part in (slice(0, 3), slice(3, 4)):
        loss({"input": x[part], "reconstruction": r[part], "latents": f[part],
              "sparsity": torch.zeros(4)[part]}, {})  # fmt: skip
    sst = ((x - x.mean(0)) ** 2).sum().item()  # column 0: mean 1 -> 8; column 1: mean 2 -> 8
    m = loss.epoch_metrics()
    assert m["nmse"] == pytest.approx(2 / sst) and m["fve"] == pytest.approx(1 - 2 / sst)
    assert m["dead_fraction"] == pytest.approx(2 / 4)
    assert m["dense_fraction"] == pytest.approx(2 / 4)  # 25% and 100% are both > 10%
