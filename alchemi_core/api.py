"""The public face: the CLI and the Prefect tasks call these and nothing deeper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alchemi_core.config.loading import load_config
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.training import run as _run
from alchemi_core.training.run import TrainResult


def make_tracker(cfg: TrainingConfig):
    if cfg.mlflow is None:
        return None
    from alchemi_core.training.mlflow_tracker import MLflowTracker

    return MLflowTracker(cfg.mlflow)


def train(
    config: str | Path | TrainingConfig,
    overrides: list[str] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    source: str | None = None,
    tracker: Any = None,
) -> TrainResult:
    """Train from a config file (or a validated config); resumes or skips a matching run."""
    if isinstance(config, TrainingConfig):
        cfg, src = config, source or "<config>"
    else:
        cfg, src = load_config(config, overrides), str(config)
    built = _run.build(cfg, src, seed)
    return _run.execute(built, tracker if tracker is not None else make_tracker(cfg), overwrite)
