"""Train (or resume, or reuse) one model; returns its run folder and checkpoint hashes."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from prefect.runtime import task_run

from alchemi_core import api
from alchemi_core.config.loading import validate
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.io import write_json
from tasks.caching import content_hash, data_files, outputs, outputs_intact, without_secrets
from tasks.step import step

log = logging.getLogger("alchemi")


def module_files(names: list[str]) -> dict[str, str]:
    """Source files of the config's `imports` (user code changes the result too)."""
    files = {}
    for i, name in enumerate(names):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and Path(spec.origin).is_file():
            files[f"imports[{i}]"] = spec.origin
    return files


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    cfg = params["config"]
    sections = {k: cfg[k] for k in ("data", "train", "val") if cfg.get(k)}
    return without_secrets(cfg), {**data_files(sections), **module_files(cfg.get("imports", []))}


def run_folder(cfg: TrainingConfig) -> Path:
    return Path(cfg.experiment.output_dir) / cfg.experiment.name


def record_path(folder: Path) -> Path:
    """Input and checkpoint hashes of this task's last run, beside (not in) the run folder."""
    return folder.with_name(f".{folder.name}.train-task.json")


def reusable(folder: Path, inputs: dict[str, str]) -> bool:
    """Whether the run in `folder` may be resumed or reused by api.train.

    api.train matches runs by config alone; this task also knows the input files' content. A run
    is reusable when this task started it on the same inputs and its recorded checkpoints (once
    finished) are unchanged. A run it did not start, or on other data, is trained again.
    """
    try:
        record = json.loads(record_path(folder).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if record.get("inputs") != inputs:
        return False
    return not record.get("outputs") or outputs_intact(record)


@step("train", describe, retries=2)
def train(config: dict, source: str = "<pipeline>", fresh: bool = False) -> dict:
    """`config` is a validated training config as a dict; `fresh` drops any earlier run first.

    A retry (or a re-run after a crash) resumes from the newest intact checkpoint; a finished run
    of the same config is reused unless its checkpoints changed since this task recorded them.
    """
    cfg = validate(config, TrainingConfig, source)
    folder = run_folder(cfg)
    inputs = {role: content_hash(p) for role, p in describe({"config": config})[1].items()}
    fresh = fresh and task_run.run_count <= 1  # a retry resumes; only the first attempt drops
    if folder.exists() and (fresh or not reusable(folder, inputs)):
        log.info("training %s from scratch (%s)", folder, "refresh" if fresh else "inputs changed")
        shutil.rmtree(folder)
    write_json(record_path(folder), {"inputs": inputs, "outputs": {}})
    result = api.train(cfg, overwrite=True, source=source)
    outs = outputs(*sorted((folder / "checkpoints").glob("*.pt")))
    write_json(record_path(folder), {"inputs": inputs, "outputs": outs})
    return {**result.to_dict(), "outputs": outs}
