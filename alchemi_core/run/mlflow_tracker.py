"""MLflow through MlflowClient only (no global fluent state: safe with concurrent trials).

A tracking server that stops answering mid-run never stops training: the first failed call
puts the tracker offline, metrics and artifacts wait in a queue, each later call first probes
the server's /health (0.5 s at most) and the queue is sent when it answers again. What never
got through stays in metrics.jsonl, and running the same config again sends it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from alchemi_core.errors import TransientError
from alchemi_core.secrets import remember, scrub, split_uri_credentials

log = logging.getLogger("alchemi")
# urllib3 warns on every retried request; the tracker reports failures itself, in one line.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

# Bounded client retries (the defaults block a refused call for ~245 s): one immediate retry,
# no backoff, 10 s read timeout (a cold server can take seconds on its first request; a
# hung one costs this twice, once: then the tracker is offline and only probes /health).
# Values the user set in the environment win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # parsed as an int by MLflow
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "View run at <uri>" prints
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # no "Creating initial MLflow database tables" lines
}
PROBE_TIMEOUT = 0.5
MAX_METRICS_PER_CALL = 1000


class TrackingUnavailable(TransientError):
    pass


def configure_env(cfg) -> str:
    """Set the client env; returns the tracking URI with any user:password@ moved to the env."""
    for k, v in HTTP_DEFAULTS.items():
        os.environ.setdefault(k, v)
    uri, user, password = split_uri_credentials(cfg.tracking_uri)
    creds = cfg.credentials
    if creds is not None and creds.username:
        user = creds.username
    if creds is not None and creds.password is not None:
        password = creds.password.get_secret_value()
    if user:
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
    if password:
        remember(password)
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    return uri


class MLflowTracker:
    def __init__(self, cfg, on_unreachable: str | None = None):
        self.cfg = cfg
        self.uri = configure_env(cfg)
        from mlflow.tracking import MlflowClient

        self.on_unreachable = on_unreachable or cfg.on_unreachable
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id: str | None = None
        self.pending: list[tuple[dict[str, float], int, int]] = []
        self.pending_artifacts: list[tuple[str, str | None]] = []
        self.synced_step: int | None = None
        self.terminated = False
        self.disabled = False
        self.offline = False
        self._lock = threading.RLock()  # one sender at a time
        self._sender: threading.Thread | None = None

    @property
    def pending_work(self) -> bool:
        """Something this run should have sent but has not (yet)."""
        if self.disabled or self.run_id is None:
            return False
        return bool(self.pending or self.pending_artifacts) or not self.terminated

    # -- lifecycle ---------------------------------------------------------------
    def start(
        self, run_name: str, resume_run_id: str | None = None, tags: dict[str, str] | None = None
    ) -> str | None:
        try:
            self.run_id = self._open_run(run_name, resume_run_id, tags or {})
        except Exception as exc:  # any client failure here means "not reachable / not usable"
            reason = _short(exc)
            if self.on_unreachable == "skip":
                log.warning(
                    "MLflow at %s unavailable (%s); training WITHOUT tracking "
                    "(mlflow.on_unreachable: skip)",
                    self.uri,
                    reason,
                )
                self.disabled = True
                return None
            raise TrackingUnavailable(
                f"MLflow tracking server {self.uri} unavailable: {reason} "
                "(set mlflow.on_unreachable: skip to train without tracking)"
            ) from None
        self.terminated = False
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
        if exp is None:
            try:
                exp_id = self.client.create_experiment(name)
            except Exception:  # created meanwhile by a concurrent trial
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
                exp_id = exp.experiment_id
        else:
            exp_id = exp.experiment_id
        run = self.client.create_run(exp_id, run_name=self.cfg.run_name or run_name, tags=tags)
        return run.info.run_id

    def finish(self, status: str = "FINISHED") -> None:
        self.wait()
        if self.disabled or self.run_id is None:
            return
        if self.flush() and self._call(
            f"mark run {status}", self.client.set_terminated, self.run_id, status=status
        ):
            self.terminated = True
            return
        n = sum(len(m) for m, _, _ in self.pending)
        log.warning(
            "MLflow: run %s not completed (%d metric values, %d artifacts unsent; the metrics "
            "are in metrics.jsonl); run the same command again to send them",
            self.run_id,
            n,
            len(self.pending_artifacts),
        )

    # -- calls -------------------------------------------------------------------
    def _reachable(self) -> bool:
        if not self.uri.startswith(("http://", "https://")):
            return True
        try:
            with urllib.request.urlopen(f"{self.uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT):
                return True
        except Exception:
            return False

    def _call(self, what: str, fn, *args, **kwargs) -> bool:
        if self.disabled or self.run_id is None:
            return False
        if self.offline and not self._reachable():
            return False
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            if not self.offline:
                log.warning(
                    "MLflow: %s failed (%s); training goes on, tracking is queued "
                    "(metrics are in metrics.jsonl)",
                    what,
                    _short(exc),
                )
            self.offline = True
            return False
        if self.offline:
            log.info("MLflow answers again; sending what was queued")
            self.offline = False
        return True

    def flush(self) -> bool:
        """Send the queue in order; False if something is still waiting."""
        with self._lock:
            return self._flush()

    def _flush(self) -> bool:
        from mlflow.entities import Metric

        while self.pending:
            count, size = 0, 0
            for m, _, _ in self.pending:
                if count and size + len(m) > MAX_METRICS_PER_CALL:
                    break
                size, count = size + len(m), count + 1
            batch = self.pending[:count]
            items = [Metric(k, float(v), ts, step) for m, step, ts in batch for k, v in m.items()]
            if not self._call("log metrics", self.client.log_batch, self.run_id, metrics=items):
                return False
            self.synced_step = batch[-1][1]
            del self.pending[:count]
        while self.pending_artifacts:
            path, artifact_path = self.pending_artifacts[0]
            name = f"log artifact {Path(path).name}"
            if not self._call(name, self.client.log_artifact, self.run_id, path, artifact_path):
                return False
            self.pending_artifacts.pop(0)
        return True

    # -- logging -----------------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, scrub(str(v))[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._call("log params", self.client.log_batch, self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self.disabled:
            return
        self.pending.append((dict(metrics), step, int(time.time() * 1000)))
        self.send_soon()

    def send_soon(self) -> None:
        """Send the metric queue from a background thread: an epoch never waits for MLflow
        (a SQLite commit costs ~100 ms). Artifacts, the final status and finish() stay
        synchronous; synced_step moves only once a batch got through."""
        if self._sender is not None and self._sender.is_alive():
            return  # the running sender takes the new entry before it stops
        self._sender = threading.Thread(target=self.flush, name="alchemi-mlflow", daemon=True)
        self._sender.start()

    def wait(self) -> None:
        if self._sender is not None:
            self._sender.join()
            self._sender = None

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.disabled:
            return
        self.pending_artifacts.append((str(path), artifact_path))
        self.flush()

    def log_model(self, checkpoint: str | Path, pack) -> str | None:
        """The MLflow model `pack(checkpoint)` makes (see mlflow_model.py); registered when
        mlflow.register_model_name is set. Skipped while the server is away; never raises."""
        if self.disabled or self.run_id is None or (self.offline and not self._reachable()):
            return None
        from alchemi_core.run.mlflow_model import log_model

        try:
            packed = pack(checkpoint)
            if packed is None:
                return None
            cfg = self.cfg
            uri = log_model(
                self.uri, self.run_id, *packed, cfg.register_model_name, cfg.register_alias
            )
            self.client.set_tag(self.run_id, "alchemi.model_uri", uri)
            return uri
        except Exception as exc:  # noqa: BLE001 - the model is a convenience, the run is done
            log.warning("MLflow: could not log the model (%s)", _short(exc))
            return None

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self._call("set tag", self.client.set_tag, self.run_id, k, scrub(str(v)))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    return scrub(msg)[:300]
