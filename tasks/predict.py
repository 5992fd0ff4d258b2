"""Predict a split with a checkpoint (and compute its loss when asked)."""

from __future__ import annotations

from tasks.caching import outputs
from tasks.checkpoint import verified
from tasks.extract import describe, with_checkpoint
from tasks.step import step


@step("predict", describe)
def predict(config: dict, checkpoint: dict, source: str = "<pipeline>") -> dict:
    verified(checkpoint)
    from alchemi_core import api  # torch: only when the step runs

    result = api.predict(with_checkpoint(config, checkpoint), source=source)
    files = (result["path"], result.get("metrics_path"), result.get("sidecar"))
    return {**result, "outputs": outputs(*files)}
