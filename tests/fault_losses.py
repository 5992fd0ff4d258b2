"""Test-only losses, loaded through a config's `imports: [tests.fault_losses]`."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from alchemi_core import faults
from alchemi_core.registry import register_loss
from alchemi_core.tabular.vae_loss import VAELoss


@register_loss("FailpointVAELoss")
class FailpointVAELoss(VAELoss):
    """VAELoss passing fail point "batch" on each training batch, optionally sleeping there
    (always, or only while the file `slow_while` exists: a test's brake on a real process)."""

    def __init__(self, sleep: float = 0.0, slow_while: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.sleep = sleep
        self.slow_while = Path(slow_while) if slow_while else None

    def forward(self, out, batch):
        if torch.is_grad_enabled():
            faults.point("batch")
            if self.slow_while is None or self.slow_while.exists():
                time.sleep(self.sleep)
        return super().forward(out, batch)


@register_loss("NaNAtVAELoss")
class NaNAtVAELoss(VAELoss):
    """VAELoss that turns NaN from the `nan_at`-th training batch on (counted from 1)."""

    def __init__(self, nan_at: int, **kwargs):
        super().__init__(**kwargs)
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, out, batch):
        terms = super().forward(out, batch)
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls >= self.nan_at:
                terms["loss"] = terms["loss"] * float("nan")
        return terms
