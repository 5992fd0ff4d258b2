"""Evaluate a checkpoint on a split with a loss config; metrics go to a JSON file too."""

from __future__ import annotations

from typing import Any

from alchemi_core.io import write_json
from tasks.caching import data_files, outputs
from tasks.checkpoint import verified
from tasks.step import step


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    config = {k: params[k] for k in ("split", "data", "loss", "out")}
    files = {"checkpoint": params["checkpoint"]["path"], **data_files(config)}
    return config, files


@step("validate", describe)
def validate(checkpoint: dict, split: dict, data: dict, loss: dict, out: str) -> dict:
    """Metrics of `checkpoint` (a checkpoint task result) over `split`, written to `out`."""
    from alchemi_core import api  # torch: only when the step runs

    metrics = api.evaluate(verified(checkpoint), split, data, loss)
    write_json(
        out,
        {
            "checkpoint": checkpoint["path"],
            "sha256": checkpoint["sha256"],
            "data_path": split["data_path"],
            "metrics": metrics,
        },
    )
    return {"metrics": metrics, "path": out, "outputs": outputs(out)}
