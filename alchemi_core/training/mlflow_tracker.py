"""MLflow through MlflowClient only (no global fluent state: safe with concurrent trials).

A tracking server that stops answering mid-run never stops training: metrics wait in a queue
and are sent when it answers again; what never got through stays in metrics.jsonl.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from alchemi_core.errors import TransientError
from alchemi_core.secrets import redact_uri

log = logging.getLogger("alchemi")

# Bounded client retries, so an unreachable server costs seconds, not minutes.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


class TrackingUnavailable(TransientError):
    pass


def configure_env(cfg) -> None:
    for k, v in HTTP_DEFAULTS.items():
        os.environ.setdefault(k, v)
    creds = cfg.credentials
    if creds is not None and creds.username:
        os.environ["MLFLOW_TRACKING_USERNAME"] = creds.username
    if creds is not None and creds.password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = creds.password.get_secret_value()


class MLflowTracker:
    def __init__(self, cfg, on_unreachable: str | None = None):
        from mlflow.tracking import MlflowClient

        configure_env(cfg)
        self.cfg = cfg
        self.on_unreachable = on_unreachable or cfg.on_unreachable
        self.client = MlflowClient(tracking_uri=cfg.tracking_uri)
        self.run_id: str | None = None
        self.pending: list[tuple[dict[str, float], int, int]] = []
        self.disabled = False
        self.failures = 0

    # -- lifecycle ---------------------------------------------------------------
    def start(
        self, run_name: str, resume_run_id: str | None = None, tags: dict[str, str] | None = None
    ) -> str | None:
        try:
            self.run_id = self._open_run(run_name, resume_run_id, tags or {})
        except Exception as exc:  # any client failure here means "not reachable / not usable"
            where = redact_uri(self.cfg.tracking_uri)
            reason = _short(exc)
            if self.on_unreachable == "skip":
                log.warning(
                    "MLflow at %s unavailable (%s); training WITHOUT tracking", where, reason
                )
                self.disabled = True
                return None
            raise TrackingUnavailable(
                f"MLflow tracking server {where} unavailable: {reason} "
                "(set mlflow.on_unreachable: skip to train without tracking)"
            ) from None
        return self.run_id

    def _open_run(self, run_name: str, resume_run_id: str | None, tags: dict[str, str]) -> str:
        if resume_run_id:
            try:
                run = self.client.get_run(resume_run_id)
                if run.info.lifecycle_stage == "active":
                    self.client.update_run(resume_run_id, status="RUNNING")
                    return resume_run_id
            except Exception as exc:
                if "RESOURCE_DOES_NOT_EXIST" not in str(exc):
                    raise
        name = self.cfg.experiment_name
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(name)
        run = self.client.create_run(exp_id, run_name=self.cfg.run_name or run_name, tags=tags)
        return run.info.run_id

    def finish(self, status: str = "FINISHED") -> None:
        if self.disabled or self.run_id is None:
            return
        self.flush()
        try:
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:
            log.warning("MLflow: could not mark run %s %s: %s", self.run_id, status, _short(exc))
        if self.pending:
            n = sum(len(m) for m, _, _ in self.pending)
            log.warning("MLflow: %d metric values were never sent; they are in metrics.jsonl", n)

    # -- logging -----------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs) -> bool:
        if self.disabled or self.run_id is None:
            return False
        try:
            fn(*args, **kwargs)
            if self.failures:
                log.info("MLflow answers again")
            self.failures = 0
            return True
        except Exception as exc:
            self.failures += 1
            if self.failures == 1:
                log.warning(
                    "MLflow: %s failed (%s); training goes on, will retry", what, _short(exc)
                )
            return False

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._call("log params", self.client.log_batch, self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.pending.append((dict(metrics), step, int(time.time() * 1000)))
        self.flush()

    def flush(self) -> None:
        from mlflow.entities import Metric

        while self.pending and not self.disabled and self.run_id:
            batch = self.pending[:10]
            items = [Metric(k, float(v), ts, step) for m, step, ts in batch for k, v in m.items()]
            if not self._call("log metrics", self.client.log_batch, self.run_id, metrics=items):
                return
            del self.pending[: len(batch)]

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._call(
            f"log artifact {Path(path).name}",
            self.client.log_artifact,
            self.run_id,
            str(path),
            artifact_path,
        )

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self._call("set tag", self.client.set_tag, self.run_id, k, str(v))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    return redact_uri(msg)[:200]
