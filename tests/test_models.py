"""Models and losses: shapes, inferred widths, embedding columns, loss components."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from alchemi_core import api
from alchemi_core.errors import ConfigError
from alchemi_core.tabular.batching import DataSpec
from alchemi_core.tabular.sae import SAE
from alchemi_core.tabular.sae_loss import SAELoss
from alchemi_core.tabular.vae import VAE
from alchemi_core.tabular.vae_loss import VAELoss


def mixed_batch(n=8):
    g = torch.Generator().manual_seed(0)
    return {
        "numerical": torch.randn(n, 3, generator=g),
        "categorical": torch.stack(
            [torch.randint(0, 4, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)], dim=1
        ),
        "embeddings": torch.randn(n, 5, generator=g),
    }


SPEC = DataSpec(["a", "b", "c"], {"k": 4, "m": 2}, ["e"], 5)


def test_vae_outputs_and_inferred_width():
    model = VAE(latent_dim=3, data_spec=SPEC, hidden_dims=[16])
    assert model.input_dim == 3 + 2 + 2 + 5
    out = model(mixed_batch())
    assert out["numerical"].shape == (8, 3) and out["embeddings"].shape == (8, 5)
    assert [t.shape for t in out["categorical_logits"]] == [(8, 4), (8, 2)]
    model.eval()
    assert torch.equal(model.embed(mixed_batch()), model(mixed_batch())["mu"])


def test_vae_input_dim_sizes_the_categorical_embeddings():
    model = VAE(latent_dim=3, data_spec=SPEC, input_dim=784)  # as in the reference's Example 1
    assert [e.embedding_dim for e in model.cat_embed] == [388, 388]  # 784 - 3 num - 5 emb
    assert model.encoder_input(mixed_batch()).shape == (8, 784) and model.input_dim == 784


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [
        (DataSpec(["a", "b", "c"], {}, ["e"], 5), {"input_dim": 784}),  # no categorical column
        (SPEC, {"input_dim": 9}),  # leaves 1 for 2 categorical columns
        (SPEC, {"input_dim": 784, "cat_embedding_dim": 4}),  # widths fixed by the config
    ],
)
def test_vae_input_dim_mismatch_is_a_config_error(spec, kwargs):
    with pytest.raises(ConfigError) as info:
        VAE(latent_dim=3, data_spec=spec, **kwargs)
    assert info.value.key == "model.params.input_dim" and "does not match" in info.value.message


def test_vae_loss_components_add_up():
    model = VAE(latent_dim=3, data_spec=SPEC, hidden_dims=[16])
    batch = mixed_batch()
    terms = VAELoss(beta=0.5, reconstruction_weight=2.0)(model(batch), batch)
    assert set(VAELoss.metric_names) == set(terms) - {"loss"}
    expected = 2.0 * terms["reconstruction_loss"] + 0.5 * terms["kl_loss"]
    assert torch.allclose(terms["loss"], expected)
    assert terms["loss"].requires_grad and not terms["kl_loss"].requires_grad


def test_sae_loss_epoch_metrics_match_hand_computation():
    model = SAE(input_dim=4, hidden_dim=6)
    loss = SAELoss(sparsity_weight=0.1)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.encoder.bias.fill_(-0.5)
        outs = [model({"embeddings": part}) for part in (x[:6], x[6:])]
        loss.reset()
        for out, part in zip(outs, (x[:6], x[6:]), strict=True):
            terms = loss(out, {"embeddings": part})
    f = torch.cat([o["latents"] for o in outs])
    x_hat = torch.cat([o["reconstruction"] for o in outs])
    fve = 1 - ((x_hat - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    dead = 1 - (f > 0).any(0).float().mean()
    m = loss.epoch_metrics()
    assert m["fve"] == pytest.approx(fve.item(), rel=1e-5)
    assert m["dead_fraction"] == pytest.approx(dead.item())
    assert terms["l0"] == pytest.approx((f[6:] > 0).float().sum(1).mean().item())


def test_vae_trains_on_parquet_embedding_column(tmp_path, penguins_dir):
    frame = pd.read_csv(penguins_dir / "train.csv")
    rng = np.random.default_rng(0)
    frame["vec"] = list(rng.normal(size=(len(frame), 3)).astype("float32"))
    frame.to_parquet(tmp_path / "t.parquet")
    cfg = {
        "experiment": {
            "name": "emb",
            "output_dir": str(tmp_path / "out"),
            "seed": 1,
            "device": "cpu",
        },
        "model": {"class": "VAE", "params": {"latent_dim": 2, "hidden_dims": [8]}},
        "data": {
            "columns": {
                "numerical": ["body_mass_g"],
                "categorical": ["sex"],
                "embeddings": ["vec"],
            },
            "cardinalities_path": str(penguins_dir / "cardinalities.json"),
        },
        "train": {
            "data_path": str(tmp_path / "t.parquet"),
            "loader_class": "TabularDataLoader",
            "loader_params": {"batch_size": 64, "shuffle": True},
            "epochs": 2,
            "optimizer_config": {"optimizer": "Adam", "learning_rate": 0.01},
            "loss": {"class": "VAELoss", "params": {}},
        },
        "checkpoint": {"metric": "train_embedding_mse", "mode": "min", "save_strategy": "last"},
    }
    from alchemi_core.config.schema import TrainingConfig

    result = api.train(TrainingConfig.model_validate(cfg))
    rows = [json.loads(x) for x in (tmp_path / "out/emb/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["train_loss"]) and r["train_embedding_mse"] > 0 for r in rows)
    model, ckpt = api.load_model(result.last_checkpoint)
    assert ckpt["data_spec"]["embeddings"] == ["vec"] and ckpt["data_spec"]["embedding_dim"] == 3
    assert model.emb_head.out_features == 3  # the vector column is reconstructed, 3 wide
    vec = torch.tensor(np.stack(frame["vec"].to_numpy()))
    batch = {
        "numerical": torch.tensor(frame[["body_mass_g"]].to_numpy(), dtype=torch.float32),
        "categorical": torch.zeros(len(frame), 1, dtype=torch.long),
        "embeddings": vec,
    }
    names = [n for cols, _ in model.predictions(model(batch)) for n in cols]
    assert names == ["body_mass_g", "vec_0", "vec_1", "vec_2", "sex", "sex_prob"]
