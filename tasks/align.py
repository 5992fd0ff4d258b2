"""Alignment steps: train (or resume, or reuse) and evaluate on one sensor. Thin: alchemi_core's
align_api does the work; these add the step cache, retries and output hashes."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from prefect.runtime import task_run

from alchemi_core.alignment.config import AlignmentConfig, input_files
from alchemi_core.config.loading import validate
from tasks.caching import outputs, without_secrets
from tasks.step import step

log = logging.getLogger("alchemi")


def describe_train(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    cfg = params["config"]
    files = input_files(validate(cfg, AlignmentConfig, params.get("source", "<flow>")))
    return {**without_secrets(cfg), "seed": params.get("seed")}, files


@step("align-train", describe_train, retries=2)
def align_train(
    config: dict, source: str = "<flow>", seed: int | None = None, fresh: bool = False
) -> dict:
    """`config`: a validated alignment config as a dict. A retry resumes from the newest
    checkpoint; `fresh` (first attempt only) drops an earlier run of this folder."""
    cfg = validate(config, AlignmentConfig, source)
    folder = cfg.experiment.run_dir
    if fresh and task_run.run_count <= 1 and folder.exists():
        log.info("training %s from scratch (refresh)", folder)
        shutil.rmtree(folder)
    from alchemi_core.alignment import api as align_api  # torch: only when the step runs

    result = align_api.train(cfg, seed=seed, overwrite=True)
    return {**result.to_dict(), "outputs": outputs(*sorted((folder / "checkpoints").glob("*.pt")))}


def describe_eval(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    keys = ("run_dir", "noise", "seed", "which")
    files = {
        "checkpoint": params["checkpoint_path"],
        "lab": params["lab_path"],
        "sensor": params["sensor_path"],
    }
    return {k: params.get(k) for k in keys}, files


@step("align-eval", describe_eval, retries=1, gpu=False)
def align_eval(
    run_dir: str,
    checkpoint_path: str,
    lab_path: str,
    sensor_path: str,
    noise: float | None = None,
    seed: int = 0,
    which: str = "best",
) -> dict:
    """`checkpoint_path` is the file `which` names in `run_dir` (its hash keys the cache)."""
    from alchemi_core.alignment import api as align_api

    out = align_api.evaluate(run_dir, lab_path, sensor_path, noise, seed, which)
    return {**out, "outputs": {}}
