"""`alchemi align train --nproc 2` (torchrun, gloo on CPU) on tiny synthetic spectra.

2 ranks at a per-rank batch of B/2 take the same steps as 1 rank at batch B: each rank embeds
its half of every global batch, InfoNCE takes the negatives of both ranks (gathered with their
gradient), DDP averages the gradients. Augmentation stays on (random sensors, noise, band
dropout, cut-offs): every rank draws it for the whole batch and keeps its own rows.
Only rank 0 writes; a killed 2-rank run resumes to the same weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.spectral.helpers import ROOT, tiny_config

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


def align_train(cfg: str, *args: str, failpoint: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ALCHEMI_PLOTS": "0"}
    env["ALCHEMI_FAILPOINT"] = failpoint
    cmd = [sys.executable, "-m", "alchemi_core.cli", "align", "train", "--config", cfg, *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def weights(run) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last_model.pt", weights_only=False)["model_state"]


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


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
    one = align_train(config(tmp_path, "one", 16))
    assert one.returncode == 0, one.stderr[-3000:]
    two = align_train(config(tmp_path, "two", 8), "--nproc", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    runs = tmp_path / "runs"
    assert_same_training(runs / "one", runs / "two")

    # Written once: one result printed, one line per epoch, the folder lock released.
    assert two.stdout.count('"run_dir"') == 1
    assert "in use by pid" not in two.stderr
    assert sorted(p.name for p in (runs / "two" / "checkpoints").iterdir()) == ["last_model.pt"]
    info = json.loads((runs / "two" / "run.json").read_text())
    assert info["status"] == "finished" and info["epoch"] == EPOCHS

    # Killed (rank 0, SIGKILL) after the checkpoint of epoch 1; the same command resumes.
    cfg = config(tmp_path, "killed", 8)
    killed = align_train(cfg, "--nproc", "2", failpoint="epoch.saved:1")
    assert killed.returncode != 0
    assert json.loads((runs / "killed" / "run.json").read_text())["status"] == "running"
    resumed = align_train(cfg, "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout[resumed.stdout.index("{") :])["resumed_from_epoch"] == 1
    assert_same_training(runs / "two", runs / "killed")


def test_a_bad_config_fails_before_any_rank_starts(tmp_path, capsys):
    from alchemi_core.cli import main

    cfg = config(tmp_path, "bad", 8)
    argv = ["align", "train", "--config", cfg, "--nproc", "2"]
    assert main([*argv, "--set", "trainer.epochs=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {cfg}: trainer.epochs")
    assert not (tmp_path / "runs").exists()
    assert main([*argv[:-1], "0"]) == 2
