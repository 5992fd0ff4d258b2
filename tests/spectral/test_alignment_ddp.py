"""`alchemi align train --nproc 2` (torchrun, gloo on CPU) on tiny synthetic spectra.

2 ranks at a per-rank batch of B/2 take the same steps as 1 rank at batch B: each rank embeds
its half of every global batch, InfoNCE takes the negatives of both ranks (gathered with their
gradient), DDP averages the gradients. Augmentation stays on (random sensors, noise, band
dropout, cut-offs): every rank draws it for the whole batch and keeps its own rows.
Only rank 0 writes; the 2-rank run is killed after epoch 1 and resumed on the way.
"""

from __future__ import annotations

import pytest
import torch

from tests.ddp_checks import check_two_ranks_and_resume, metrics, weights
from tests.spectral.helpers import tiny_config

EPOCHS = 2


def config(tmp_path, name: str, batch: int) -> str:
    changes = {
        "experiment.name": name,
        "global.threads": 1,
        "trainer.epochs": EPOCHS,
        "trainer.batch_size": batch,
        "trainer.batches_per_epoch": 3,
        "trainer.save_strategy": "last",
        "trainer.warmup_steps": 2,  # the per-step schedule counts global steps
        "trainer.lr_schedule": "cosine",
        # as shipped: the cycle prior and the sensor tower's prior tokens read each rank's
        # own readings; one encoder serves both towers
        "cycle.prior": "gaussian",
        "cycle.prior_tokens": True,
        "model.share_encoder": True,
        "cycle.sam_weight": 0.1,
    }
    return str(tiny_config(tmp_path / name, tmp_path / "runs", **changes))


def assert_same_training(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        x, y = wa[k], wb[k]
        if k.endswith("attn.kv.bias"):
            # The key bias shifts every logit of a softmax row alike: its true gradient is 0,
            # and Adam scales float noise of ~1e-9 up to steps of ~lr. Compare the value half.
            x, y = x[len(x) // 2 :], y[len(y) // 2 :]
        assert torch.allclose(x, y, atol=1e-5, rtol=1e-4), k
    ma, mb = metrics(a), metrics(b)
    assert [m["epoch"] for m in ma] == [m["epoch"] for m in mb] == list(range(1, EPOCHS + 1))
    for x, y in zip(ma, mb, strict=True):
        assert x.keys() == y.keys()
        for key in ("train_loss", "train_nce", "train_cycle", "val_top1", "val_sam_deg"):
            assert x[key] == pytest.approx(y[key], rel=1e-4, abs=1e-5), key


@pytest.mark.slow
def test_two_ranks_at_half_batch_match_one_rank_and_a_killed_run_resumes(tmp_path):
    def command(name: str, batch: int) -> list[str]:
        return ["align", "train", "--config", config(tmp_path, name, batch)]

    check_two_ranks_and_resume(command, tmp_path / "runs", assert_same_training, EPOCHS)


def test_a_bad_config_fails_before_any_rank_starts(tmp_path, capsys):
    from alchemi_core.cli import main

    cfg = config(tmp_path, "bad", 8)
    argv = ["align", "train", "--config", cfg, "--nproc", "2"]
    assert main([*argv, "--set", "trainer.epochs=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {cfg}: trainer.epochs")
    assert not (tmp_path / "runs").exists()
    assert main([*argv[:-1], "0"]) == 2
