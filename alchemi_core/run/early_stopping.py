"""Best-value tracking, used both for "best" checkpoints and for early stopping."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class BestMetric:
    metric: str
    mode: str  # "min" or "max"
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    bad_count: int = 0

    def improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, metrics: dict[str, float], epoch: int) -> bool | None:
        """None if the metric was not logged this epoch, else whether it improved."""
        if self.metric not in metrics:
            return None
        value = metrics[self.metric]
        if self.improved(value):
            self.best, self.best_epoch, self.bad_count = value, epoch, 0
            return True
        self.bad_count += 1
        return False

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


@dataclass
class EarlyStopper:
    best: BestMetric
    patience: int

    def should_stop(self, metrics: dict[str, float], epoch: int) -> bool:
        return self.best.update(metrics, epoch) is False and self.best.bad_count >= self.patience
