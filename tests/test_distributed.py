"""Data-parallel training under torchrun on CPU (gloo, 2 processes), on a tiny SAE.

2 ranks at a per-rank batch of B/2 take the same steps as 1 rank at batch B (each rank reads
its half of every global batch; DDP averages the per-rank mean gradients), so the weights and
the reduced validation metrics match. Only rank 0 writes; a killed 2-rank run resumes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import ROOT
from tests.ddp_checks import alchemi, check_two_ranks_and_resume, metrics, weights

EPOCHS = 3


def sae_config(tmp_path, name: str, batch: int, params: dict | None = None) -> str:
    rng = np.random.default_rng(0)
    for split, rows in (("train", 64), ("val", 24)):
        path = tmp_path / f"{split}.npy"
        if not path.exists():
            np.save(path, rng.normal(size=(rows, 6)).astype("float32") + 2.0)
    cfg = yaml.safe_load((ROOT / "configs/sae/penguins_debug.yaml").read_text())
    cfg["global"]["threads"] = 1
    cfg["experiment"] = {"name": name, "output_dir": str(tmp_path / "runs")}
    cfg["model"]["params"] = {
        "input_dim": 6,
        "hidden_dim": 12,
        "sparsity_weight": 0.01,
        **(params or {}),
    }
    cfg["train"].update(data_path=str(tmp_path / "train.npy"), epochs=EPOCHS)
    cfg["train"]["loader_params"]["batch_size"] = batch
    cfg["train"]["optimizer_config"]["learning_rate"] = 0.01
    cfg["val"]["data_path"] = str(tmp_path / "val.npy")
    cfg["val"]["loader_params"]["batch_size"] = 5  # 24 rows: uneven shards across 2 ranks
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def assert_same_training(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5), k
    ma, mb = metrics(a), metrics(b)
    assert [m["epoch"] for m in ma] == [m["epoch"] for m in mb] == list(range(1, EPOCHS + 1))
    for x, y in zip(ma, mb, strict=True):
        for key in ("train_loss", "val_loss", "val_fve", "val_dead_fraction"):
            assert x[key] == pytest.approx(y[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_two_ranks_at_half_batch_match_one_rank_and_a_killed_run_resumes(tmp_path):
    def command(name: str, batch: int) -> list[str]:
        return ["train", "--config", sae_config(tmp_path, name, batch)]

    check_two_ranks_and_resume(command, tmp_path / "runs", assert_same_training, EPOCHS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "params",
    [{"activation": "topk", "k": 3, "aux_k": 4, "dead_window": 32}, {"activation": "jumprelu"}],
    ids=["topk", "jumprelu"],
)
def test_per_row_activations_train_the_same_on_two_ranks(tmp_path, params):
    """topk (with AuxK: dead latents are counted over every rank's rows) and jumprelu act per
    row, so 2 ranks at half batch match 1 rank, and a killed 2-rank run resumes."""

    def command(name: str, batch: int) -> list[str]:
        return ["train", "--config", sae_config(tmp_path, name, batch, params)]

    check_two_ranks_and_resume(command, tmp_path / "runs", assert_same_training, EPOCHS)


@pytest.mark.slow
def test_batchtopk_trains_on_two_ranks(tmp_path):
    """batchtopk keeps the top k x B of each rank's own rows (not the same steps as one rank);
    it trains, and its inference threshold is in the checkpoint."""
    config = sae_config(tmp_path, "btk", 8, {"activation": "batchtopk", "k": 3, "aux_k": 4})
    two = alchemi("train", "--config", config, "--nproc", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    rows = metrics(tmp_path / "runs" / "btk")
    assert len(rows) == EPOCHS and all(np.isfinite(r["val_fve"]) for r in rows)
    assert 0 < rows[-1]["val_l0"] < 12
    assert weights(tmp_path / "runs" / "btk")["activation.threshold"] > 0


def test_a_bad_config_fails_before_any_rank_starts(tmp_path, capsys):
    from alchemi_core.cli import main

    config = sae_config(tmp_path, "bad", 8)
    assert main(["train", "--config", config, "--nproc", "2", "--set", "train.epochs=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {config}: train.epochs")
    assert not (tmp_path / "runs").exists()
    assert main(["train", "--config", config, "--nproc", "0"]) == 2


@pytest.mark.parametrize("rows", [64, 61])
def test_each_rank_reads_its_half_of_every_global_batch(tmp_path, monkeypatch, rows):
    from alchemi_core import distributed
    from alchemi_core.tabular.embeddings import EmbeddingDataLoader

    np.save(tmp_path / "e.npy", np.arange(rows * 2, dtype="float32").reshape(rows, 2))

    def plan(world: int, rank: int, batch: int, shuffle: bool) -> list[list[int]]:
        monkeypatch.setattr(distributed, "world", lambda: world)
        monkeypatch.setattr(distributed, "rank", lambda: rank)
        ld = EmbeddingDataLoader(str(tmp_path / "e.npy"), None, batch_size=batch, shuffle=shuffle)
        ld.seed(3)
        ld.pad_shards = shuffle
        return [(b["embeddings"][:, 0] / 2).long().tolist() for b in ld]

    for shuffle in (True, False):
        one = plan(1, 0, 16, shuffle)
        r0, r1 = plan(2, 0, 8, shuffle), plan(2, 1, 8, shuffle)
        assert len(r0) == len(one)  # the same number of steps
        for whole, a, b in zip(one, r0, r1, strict=False):
            if shuffle:  # training: equal halves (a short last batch padded from its start)
                assert len(a) == len(b) and set(a + b) == set(whole)
            else:  # validation: every row once, none padded
                assert a + b == whole
        if not shuffle:
            assert sorted(sum(r0 + r1, [])) == list(range(rows))
