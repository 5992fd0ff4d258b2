"""Train (or resume, or reuse) one model; returns its run folder and checkpoint hashes."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from prefect.runtime import task_run

from alchemi_core.config.loading import validate
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.run import identity
from tasks.caching import outputs, without_secrets
from tasks.step import step

log = logging.getLogger("alchemi")


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    """The key: the config and the files the run reads, as the run's own identity lists them."""
    cfg = params["config"]
    files = identity.input_files(validate(cfg, TrainingConfig, params.get("source", "<pipeline>")))
    return without_secrets(cfg), files


def run_folder(cfg: TrainingConfig) -> Path:
    return cfg.experiment.run_dir


@step("train", describe, retries=2)
def train(config: dict, source: str = "<pipeline>", fresh: bool = False) -> dict:
    """`config` is a validated training config as a dict; `fresh` drops any earlier run first.

    api.train does the rest: a retry (or a re-run after a crash) resumes from the newest intact
    checkpoint; a finished run of the same config and inputs is reused unless its checkpoints
    changed; a run of another config or other inputs is overwritten (this step's cache key
    changed, so its folder is its own to replace).
    """
    cfg = validate(config, TrainingConfig, source)
    folder = run_folder(cfg)
    if fresh and task_run.run_count <= 1 and folder.exists():  # a retry resumes
        log.info("training %s from scratch (refresh)", folder)
        shutil.rmtree(folder)
    from alchemi_core import api  # torch: only when the step runs (a cached re-run skips it)

    result = api.train(cfg, overwrite=True, source=source)
    outs = outputs(*sorted((folder / "checkpoints").glob("*.pt")))
    return {**result.to_dict(), "outputs": outs}
