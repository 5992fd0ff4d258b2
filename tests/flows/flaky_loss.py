"""Test-only loss (imported through a config's `imports`): fails once with an OSError at the start
of epoch `fail_at_epoch`, the way a lost disk or node would, then behaves like VAELoss."""

from __future__ import annotations

from pathlib import Path

from alchemi_core.registry import register_loss
from alchemi_core.tabular.vae_loss import VAELoss


@register_loss("FlakyVAELoss")
class FlakyVAELoss(VAELoss):
    def __init__(self, marker: str, fail_at_epoch: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.marker = Path(marker)
        self.fail_at_epoch = fail_at_epoch
        self.epochs_started = 0

    def reset(self) -> None:
        super().reset()
        self.epochs_started += 1
        if self.epochs_started == self.fail_at_epoch and not self.marker.exists():
            self.marker.write_text("failed once")
            raise OSError("injected: disk went away")
