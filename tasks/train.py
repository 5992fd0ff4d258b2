"""Train (or resume, or reuse) one model; returns its run folder and checkpoint hashes."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from prefect.runtime import task_run

from alchemi_core import api, builders
from alchemi_core.config.loading import validate
from alchemi_core.config.schema import TrainingConfig
from tasks.caching import data_files, outputs, without_secrets
from tasks.step import step

log = logging.getLogger("alchemi")


def module_files(names: list[str]) -> dict[str, str]:
    """Source files of the config's `imports` (user code changes the result too)."""
    files = {f"imports[{i}]": builders.module_file(name) for i, name in enumerate(names)}
    return {k: v for k, v in files.items() if v}


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    cfg = params["config"]
    sections = {k: cfg[k] for k in ("data", "train", "val") if cfg.get(k)}
    return without_secrets(cfg), {**data_files(sections), **module_files(cfg.get("imports", []))}


def run_folder(cfg: TrainingConfig) -> Path:
    return Path(cfg.experiment.output_dir) / cfg.experiment.name


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
    result = api.train(cfg, overwrite=True, source=source)
    outs = outputs(*sorted((folder / "checkpoints").glob("*.pt")))
    return {**result.to_dict(), "outputs": outs}
