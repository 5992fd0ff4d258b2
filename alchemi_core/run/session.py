"""The per-epoch side of a run: metrics line, checkpoint, best value, early stopping, tracker.

`Session.on_epoch_end(epoch, metrics) -> stop?` is the callback a trainer's loop calls. The
tracker functions below also serve a finished run whose tracking did not complete.
"""

from __future__ import annotations

import logging
from typing import Any

from alchemi_core import distributed, faults
from alchemi_core.errors import TrainingDiverged
from alchemi_core.run import checkpoints
from alchemi_core.run.early_stopping import EarlyStopper, Tracker
from alchemi_core.run.folder import RunFolder, now
from alchemi_core.run.payload import TrainState
from alchemi_core.secrets import scrub

log = logging.getLogger("alchemi")


class Session:
    def __init__(
        self,
        folder: RunFolder,
        tracker,
        state: TrainState,
        meta: dict[str, Any],
        best: Tracker,
        stopper: EarlyStopper | None = None,
        save_strategy: str = "best",
    ):
        self.folder = folder
        self.tracker = tracker
        self.state = state
        self.meta = meta  # the checkpoint's model-rebuilding keys (see payload.py)
        self.best = best
        self.stopper = stopper
        self.save_strategy = save_strategy
        self.rows: list[dict] = []  # the content of metrics.jsonl
        self.writes = distributed.is_main()  # data parallel: only rank 0 writes
        self.last_metrics: dict[str, float] = {}

    def save(self, epoch: int, metrics: dict[str, float], improved: bool | None, stop: bool):
        training = {
            "stopped": stop,  # early stopping ended the run at this epoch
            "best": self.best.state_dict(),
            "early": self.stopper.tracker.state_dict() if self.stopper else None,
        }
        targets = self.folder.checkpoint_targets(self.save_strategy, epoch, improved)
        checkpoints.save_many(self.state.payload(epoch, metrics, self.meta, training), targets)

    def restore(self, ckpt: dict) -> tuple[int, bool]:
        """Every state the checkpoint holds; returns (epoch, whether early stopping ended it)."""
        epoch = self.state.restore(ckpt)
        t = ckpt["training"]
        self.best.load_state_dict(t["best"])
        if self.stopper and t.get("early"):
            self.stopper.tracker.load_state_dict(t["early"])
        self.last_metrics = dict(ckpt["metrics"])
        # Lines past the checkpoint are from epochs that will run again; the checkpoint's
        # own epoch comes from the checkpoint (a kill may have come before its line).
        kept = [m for m in self.folder.read_metrics() if m["epoch"] < epoch]
        self.rows = [*kept, self.last_metrics]
        if self.writes:
            self.folder.write_metrics(self.rows)
        return epoch, bool(t.get("stopped"))

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        """Metrics line, then checkpoint, then tracker and run.json: a kill between any two
        leaves a state the next start resumes from exactly."""
        improved = self.best.update(metrics, epoch)
        stop = self.stopper.should_stop(metrics, epoch) if self.stopper else False
        if not self.writes:  # other ranks: the same decisions (metrics are reduced), no files
            return stop
        self.rows.append(dict(metrics))
        self.folder.write_metrics(self.rows)
        self.save(epoch, metrics, improved, stop)
        faults.point("epoch.saved")
        self.tracker.log_metrics(metrics, step=epoch)
        self.last_metrics = metrics
        self.folder.write_info(
            epoch=epoch, status="running", **tracking_state(self.folder, self.tracker)
        )
        if stop:
            log.info(
                "early stopping at epoch %d: %s has not improved for %d validations",
                epoch,
                self.stopper.tracker.metric,
                self.stopper.patience,
            )
        return stop


# -- tracker sync ------------------------------------------------------------------------
def tracking_state(folder: RunFolder, tracker) -> dict[str, Any]:
    """run.json's record of how far the tracker got."""
    synced = tracker.synced_step
    return {
        "mlflow_synced_epoch": max(synced or 0, folder.info.get("mlflow_synced_epoch") or 0),
        "mlflow_pending": bool(tracker.pending_work),
    }


def resend_metrics(folder: RunFolder, tracker, rows: list[dict]) -> None:
    """Queue the epochs the tracker has not confirmed (a crash or an outage lost them)."""
    synced = folder.info.get("mlflow_synced_epoch") or 0
    for m in rows:
        if m["epoch"] > synced:
            tracker.log_metrics(m, step=int(m["epoch"]))


def finish_tracking(folder: RunFolder, tracker, pack=None) -> None:
    """Artifacts (config, metrics, the pictures, the best or last checkpoint), the MLflow model
    of that checkpoint when `pack` is given (pack(checkpoint) -> (module, input example), see
    mlflow_model.py), then FINISHED."""
    for name in ("config.yaml", "metrics.jsonl"):
        if (folder.path / name).exists():
            tracker.log_artifact(folder.path / name)
    for picture in sorted(folder.path.glob("*.png")):
        tracker.log_artifact(picture)
    checkpoint = folder.best_checkpoint() or folder.last_checkpoint()
    if checkpoint:
        tracker.log_artifact(str(checkpoint), "checkpoints")
        if pack is not None:
            tracker.log_model(checkpoint, pack)
    tracker.finish("FINISHED")
    folder.write_info(**tracking_state(folder, tracker))


def run_tags(source: str, run_id: str, rt, model: str) -> dict[str, str]:
    """The tracker tags every run kind sets: config path and hash, seed, device, dtype, model."""
    d = rt.describe()
    return {
        "alchemi.config_path": source,
        "alchemi.config_hash": run_id,
        "alchemi.seed": str(d["seed"]),
        "alchemi.device": str(d["device"]),
        "alchemi.dtype": str(d["dtype"]),
        "alchemi.model": model,
    }


def mark_running(folder: RunFolder, tracker, resolved: dict, run_id: str, source: str, rt, **extra):
    """config.yaml and run.json (status running) as a run starts or resumes."""
    folder.write_config(resolved)
    folder.info.setdefault("created", now())
    folder.write_info(
        config_hash=run_id,
        status="running",
        config_path=source,
        **extra,
        mlflow_run_id=tracker.run_id or folder.info.get("mlflow_run_id"),
        runtime=rt.describe(),
    )


def record_failure(folder: RunFolder, tracker, exc: BaseException) -> None:
    """run.json says why the run stopped; the tracker's run ends FAILED (KILLED on Ctrl-C)."""
    status = "diverged" if isinstance(exc, TrainingDiverged) else "failed"
    folder.write_info(status=status, error=scrub(str(exc))[:500])
    tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
    folder.write_info(**tracking_state(folder, tracker))


def sync_finished(folder: RunFolder, tracker, run_name: str) -> None:
    """A finished run whose tracking did not complete (server down): send what is missing."""
    if not folder.info.get("mlflow_pending") or not folder.info.get("mlflow_run_id"):
        return
    if not hasattr(tracker, "on_unreachable"):
        return
    tracker.on_unreachable = "skip"  # the training is done: never fail for tracking now
    if tracker.start(run_name, folder.info["mlflow_run_id"]) is None:
        return
    log.info("sending the tracking data MLflow missed for %s", folder.path)
    resend_metrics(folder, tracker, folder.read_metrics())
    finish_tracking(folder, tracker)
