"""The device path, on `cpu` and on `cuda` (only the cuda cases skip without a GPU):
- a loader with num_workers 0 holds its tensors on the run's device after build (one copy,
  no per-batch host-to-device traffic), and batches come out already there
- bf16 autocast runs without a GradScaler; fp16 (CUDA only) runs with an enabled GradScaler
- a checkpoint written on the device loads on the CPU and gives the same embeddings
"""

from __future__ import annotations

import math

import pytest
import torch

from alchemi_core import api, assembly
from alchemi_core.config.loading import load_config
from alchemi_core.run import runner
from alchemi_core.tabular import recipe

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=GPU)]


def built(write_config, **changes):
    return assembly.build(load_config(write_config(**changes)), "test")


@pytest.mark.parametrize("device", DEVICES)
def test_whole_data_sits_on_the_device_once(write_config, device):
    b = built(write_config, global_={"device": device})
    assert all(t.device.type == device for t in b.train_loader.tensors.values())
    assert all(t.device.type == device for t in next(iter(b.train_loader)).values())
    assert next(b.model.parameters()).device.type == device


@pytest.mark.parametrize(
    ("device", "amp", "scaler"),
    [
        ("cpu", "bf16", False),
        pytest.param("cuda", "bf16", False, marks=GPU),
        pytest.param("cuda", "fp16", True, marks=GPU),
    ],
)
def test_autocast_and_scaler(write_config, device, amp, scaler):
    b = built(write_config, global_={"device": device, "amp_dtype": amp})
    assert b.trainer.scaler.is_enabled() is scaler
    result = runner.execute(recipe, b)
    assert result.status == "finished"
    assert math.isfinite(result.metrics["train_loss"])


@pytest.mark.parametrize("device", DEVICES)
def test_device_checkpoint_embeds_the_same_on_cpu(write_config, device):
    result = api.train(write_config(global_={"device": device}))
    path = result.best_checkpoint or result.last_checkpoint
    on_device, _ = api.load_model(path, device)
    cpu, _ = api.load_model(path, "cpu")
    b = built(write_config, global_={"device": "cpu"}, experiment__name="cpu-copy")
    batch = next(iter(b.train_loader))
    moved = on_device.embed({k: v.to(device) for k, v in batch.items()}).cpu()
    assert torch.allclose(moved, cpu.embed(batch), atol=1e-4)
    assert next(on_device.parameters()).device.type == device
