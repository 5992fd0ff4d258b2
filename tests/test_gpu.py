"""The CUDA path: whole data moved once, autocast with amp_dtype, GradScaler only for fp16.

Every test here needs a GPU and is skipped without one (the CPU side of the same code runs in
test_training.py). What they pin down:
  - a loader with num_workers 0 holds its tensors on the device after build (one copy, no
    per-batch host-to-device traffic), and batches come out already there
  - bf16 autocast runs without a GradScaler; fp16 runs with an enabled torch.amp.GradScaler
  - the checkpoint loads on the CPU and gives the same embeddings as on the GPU
"""

from __future__ import annotations

import pytest
import torch

from alchemi_core import api
from alchemi_core.config.loading import load_config
from alchemi_core.run import runner as run
from alchemi_core.tabular import recipe as tabular
from alchemi_core.tabular.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


def built(write_config, **changes):
    return run.build(load_config(write_config(**changes)), "test")


def test_whole_data_moves_to_the_device_once(write_config):
    b = built(write_config, global_={"device": "cuda"})
    assert all(t.is_cuda for t in b.train_loader.tensors.values())
    assert all(t.is_cuda for t in next(iter(b.train_loader)).values())
    assert next(b.model.parameters()).is_cuda


@pytest.mark.parametrize(("amp", "scaler"), [("bf16", False), ("fp16", True)])
def test_autocast_and_scaler(write_config, amp, scaler):
    b = built(write_config, global_={"device": "cuda", "amp_dtype": amp})
    t = Trainer(b.model, b.loss, b.optimizer, b.train_loader, b.rt, 1)
    assert t.scaler.is_enabled() is scaler
    result = run.execute(tabular, b)
    assert result.status == "finished"
    assert torch.isfinite(torch.tensor(result.metrics["train_loss"]))


def test_cuda_checkpoint_embeds_the_same_on_cpu(write_config):
    result = api.train(write_config(global_={"device": "cuda"}))
    gpu, _ = api.load_model(result.best_checkpoint or result.last_checkpoint, "cuda")
    cpu, _ = api.load_model(result.best_checkpoint or result.last_checkpoint, "cpu")
    b = built(write_config, global_={"device": "cpu"}, experiment__name="cpu-copy")
    batch = next(iter(b.train_loader))
    on_gpu = gpu.embed({k: v.cuda() for k, v in batch.items()}).cpu()
    assert torch.allclose(on_gpu, cpu.embed(batch), atol=1e-4)
