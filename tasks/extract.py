"""Extract embeddings of each split with a checkpoint; returns paths, shapes and hashes."""

from __future__ import annotations

import copy
from typing import Any

from tasks.caching import data_files, outputs
from tasks.checkpoint import verified
from tasks.step import step


def with_checkpoint(config: dict, ckpt: dict) -> dict:
    cfg = copy.deepcopy(config)
    cfg["checkpoint"] = {"path": ckpt["path"], "load_strategy": ckpt["strategy"]}
    return cfg


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    cfg = with_checkpoint(params["config"], params["checkpoint"])
    return cfg, data_files(cfg)


@step("extract_embeddings", describe)
def extract_embeddings(config: dict, checkpoint: dict, source: str = "<pipeline>") -> dict:
    """`config` is an extract config whose checkpoint is the given checkpoint task result."""
    from alchemi_core import api  # torch: only when the step runs

    verified(checkpoint)
    splits = api.extract(with_checkpoint(config, checkpoint), source=source)
    files = [p for s in splits.values() for p in (s["path"], s.get("sidecar"))]
    return {"splits": splits, "outputs": outputs(*files)}
