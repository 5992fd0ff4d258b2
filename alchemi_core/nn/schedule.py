"""Learning-rate schedules the stacks share: per-step warm-up/cosine, per-epoch torch schedulers."""

from __future__ import annotations

import math

import torch


def scheduled_lr(step: int, base: float, warmup: int, total: int, schedule: str) -> float:
    """Learning rate at global step `step` (0-based) of `total`: linear warm-up over `warmup`
    steps, then constant or cosine decay to 0. A function of the step only, so a resumed run
    follows the same schedule."""
    scale = min(1.0, (step + 1) / warmup) if warmup else 1.0
    if schedule == "cosine":
        frac = min(1.0, max(0, step - warmup) / max(1, total - warmup))
        scale *= 0.5 * (1 + math.cos(math.pi * frac))
    return base * scale


def step_scheduler(scheduler, metrics: dict[str, float], watched: str) -> None:
    """One step of a torch scheduler; ReduceLROnPlateau watches `metrics[watched]` (skipped on
    epochs that did not log it)."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if watched in metrics:
            scheduler.step(metrics[watched])
    else:
        scheduler.step()
