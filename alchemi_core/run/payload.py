"""What a checkpoint holds, and putting it back.

A checkpoint is one dict (format in checkpoints.py):
  meta keys             whatever the trainer needs to rebuild its model (model_class,
                        model_params, data_spec, config, config_hash for the VAE/SAE runs)
  model_state, optimizer_state, scheduler_state
  epoch, metrics        the epoch it was taken after, and that epoch's metrics
  training              rng states, loader states, the GradScaler state, plus the session's
                        own entries (best value, early-stopping counter, stopped)
Any trainer can use TrainState: it needs only state_dict/load_state_dict on its parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alchemi_core import runtime


@dataclass
class TrainState:
    """The live objects whose state a checkpoint saves; loaders are by name (None allowed)."""

    model: Any
    optimizer: Any
    scheduler: Any = None
    scaler: Any = None  # a torch.amp.GradScaler
    loaders: dict[str, Any] = field(default_factory=dict)

    def scaler_state(self) -> dict | None:
        enabled = self.scaler is not None and self.scaler.is_enabled()
        return self.scaler.state_dict() if enabled else None

    def payload(
        self, epoch: int, metrics: dict[str, float], meta: dict, training: dict | None = None
    ) -> dict[str, Any]:
        """The checkpoint dict for this moment; `training` adds the caller's own states."""
        return {
            **meta,
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": epoch,
            "metrics": dict(metrics),
            "training": {
                **(training or {}),
                "rng": runtime.rng_state(),
                "loaders": {
                    k: v.state_dict() if v is not None else None for k, v in self.loaders.items()
                },
                "scaler": self.scaler_state(),
            },
        }

    def restore(self, ckpt: dict[str, Any]) -> int:
        """Load every state the checkpoint holds (RNGs last); returns its epoch."""
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        if self.scheduler is not None and ckpt.get("scheduler_state") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler_state"])
        t = ckpt["training"]
        saved = t.get("loaders") or {}
        for name, loader in self.loaders.items():
            if loader is not None and saved.get(name):
                loader.load_state_dict(saved[name])
        if self.scaler is not None and t.get("scaler"):
            self.scaler.load_state_dict(t["scaler"])
        runtime.set_rng_state(t["rng"])
        return int(ckpt["epoch"])
