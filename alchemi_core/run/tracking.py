"""Experiment tracking behind one small interface; the trainer never imports mlflow.

`NullTracker` does nothing; `MLflowTracker` (in mlflow_tracker.py) imports mlflow lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    run_id: str | None
    synced_step: int | None  # every metric step up to this one reached the tracker
    pending_work: bool  # something still to send (metrics, artifacts, the final status)

    def start(
        self, run_name: str, resume_run_id: str | None = None, tags: dict[str, str] | None = None
    ) -> str | None: ...

    def log_params(self, params: dict[str, Any]) -> None: ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...

    def log_model(self, checkpoint: str | Path, pack) -> str | None: ...

    def set_tags(self, tags: dict[str, str]) -> None: ...

    def finish(self, status: str = "FINISHED") -> None: ...


class NullTracker:
    run_id: str | None = None
    synced_step: int | None = None
    pending_work = False

    def start(self, run_name, resume_run_id=None, tags=None):
        return None

    def log_params(self, params):
        pass

    def log_metrics(self, metrics, step):
        pass

    def log_artifact(self, path, artifact_path=None):
        pass

    def log_model(self, checkpoint, pack):
        return None

    def set_tags(self, tags):
        pass

    def finish(self, status="FINISHED"):
        pass


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out
