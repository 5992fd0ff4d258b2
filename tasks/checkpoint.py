"""Resolve a run's checkpoint (best/last/epoch_N) and check it is the file training recorded."""

from __future__ import annotations

from typing import Any

from alchemi_core.errors import CheckpointError
from alchemi_core.io import file_sha256
from tasks.step import step


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    run = params["train"]
    return {"run_dir": run["run_dir"], "strategy": params["strategy"]}, dict(run["outputs"])


def verified(ckpt: dict[str, Any]) -> str:
    """The checkpoint's path, if the file still has the hash it was handed on with."""
    path = ckpt["path"]
    try:
        actual = file_sha256(path)
    except OSError:
        raise CheckpointError("checkpoint file is gone; re-run the flow", path) from None
    if actual != ckpt["sha256"]:
        raise CheckpointError(
            f"changed since it was recorded (sha256 {actual[:12]}, expected "
            f"{ckpt['sha256'][:12]}); re-run the flow with --refresh",
            path,
        )
    return path


@step("checkpoint", describe, gpu=False)
def checkpoint(train: dict, strategy: str = "best") -> dict:
    """`train` is the train task's result; returns {path, sha256, strategy}."""
    from alchemi_core.run.checkpoints import resolve  # torch: only when the step runs

    path = str(resolve(train["run_dir"], strategy))
    recorded = train["outputs"].get(path)
    if recorded is None:
        raise CheckpointError("not among the checkpoints training recorded", path)
    ckpt = {"path": path, "sha256": recorded, "strategy": strategy}
    verified(ckpt)
    return {**ckpt, "outputs": {path: recorded}}
