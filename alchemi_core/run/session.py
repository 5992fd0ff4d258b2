"""The per-epoch side of a run: metrics lines, checkpoint, best value, early stopping, tracker.

`Session.on_epoch_end(epoch, lines) -> stop?` is what the runner calls after each epoch; the
writes go through writer.py, off the training thread. The tracker functions below also serve
a finished run whose tracking did not complete.
"""

from __future__ import annotations

import logging
from typing import Any

from alchemi_core import distributed, faults
from alchemi_core.errors import TrainingDiverged
from alchemi_core.output_plan import OutputPlan
from alchemi_core.run import checkpoints
from alchemi_core.run.early_stopping import BestMetric, EarlyStopper
from alchemi_core.run.folder import RunFolder, now
from alchemi_core.run.stop import StopRequested
from alchemi_core.run.writer import Writer, snapshot
from alchemi_core.secrets import scrub

log = logging.getLogger("alchemi")


class Session:
    """The per-epoch writes of a run of any recipe (see runner.py)."""

    def __init__(self, folder: RunFolder, tracker, recipe, b):
        self.folder = folder
        self.tracker = tracker
        self.recipe, self.b = recipe, b
        self.best: BestMetric = b.best
        self.stopper: EarlyStopper | None = b.stopper
        self.save_strategy: str = b.save_strategy
        self.rows: list[dict] = []  # the content of metrics.jsonl
        self.writes = distributed.is_main()  # data parallel: only rank 0 writes
        self.last_metrics: dict[str, float] = {}
        self.writer = Writer(background=not faults.active())

    def payload(self, epoch: int, metrics: dict, improved: bool | None, stop: bool) -> dict:
        """This moment's checkpoint: the common payload plus the recipe's own state."""
        training = {
            **self.recipe.state(self.b),
            "stopped": stop,  # early stopping ended the run at this epoch
            "best": self.best.state_dict(),
            "early": self.stopper.best.state_dict() if self.stopper else None,
        }
        state = self.recipe.train_state(self.b)
        return state.payload(epoch, metrics, self.recipe.meta(self.b), training)

    def restore(self, ckpt: dict) -> tuple[int, bool]:
        """Every state the checkpoint holds; returns (epoch, whether early stopping ended it)."""
        t = ckpt["training"]
        self.recipe.restore(self.b, t)  # the recipe's own state first: it may rebuild parts
        epoch = self.recipe.train_state(self.b).restore(ckpt)
        self.best.load_state_dict(t["best"])
        if self.stopper and t.get("early"):
            self.stopper.best.load_state_dict(t["early"])
        self.last_metrics = dict(ckpt["metrics"])
        # Lines past the checkpoint are from epochs that will run again.
        self.rows = [m for m in self.folder.read_metrics() if m["epoch"] <= epoch]
        if self.last_metrics and not any(m["epoch"] == epoch for m in self.rows):
            self.rows.append(self.last_metrics)  # a kill came before its line
        if self.writes:
            self.folder.write_metrics(self.rows)
        return epoch, bool(t.get("stopped"))

    def on_epoch_end(self, epoch: int, lines: list[dict]) -> bool:
        """Decide best and early stopping from the last line (an epoch may log none), then
        hand the epoch's writes to the writer with a snapshot of every state."""
        metrics = lines[-1] if lines else {}
        improved = self.best.update(metrics, epoch)
        stop = self.stopper.should_stop(metrics, epoch) if self.stopper else False
        if not self.writes:  # other ranks: the same decisions (metrics are reduced), no files
            return stop
        self.rows.extend(dict(m) for m in lines)
        payload = snapshot(self.payload(epoch, metrics, improved, stop))
        targets = self.folder.checkpoint_targets(self.save_strategy, epoch, improved)
        job = (epoch, lines, list(self.rows), payload, targets, self.recipe.info(self.b))
        self.writer.submit(lambda: self.write(*job))
        self.last_metrics = metrics or self.last_metrics
        if stop:
            log.info(
                "early stopping at epoch %d: %s has not improved for %d validations",
                epoch,
                self.stopper.best.metric,
                self.stopper.patience,
            )
        return stop

    def write(self, epoch, lines, rows, payload, targets, info) -> None:
        """Metrics lines, then checkpoint, then tracker and run.json: a kill between any two
        leaves a state the next start resumes from exactly."""
        if lines:
            self.folder.write_metrics(rows)
        checkpoints.save_many(payload, targets)
        faults.point("epoch.saved")
        for line in lines:
            self.tracker.log_metrics(numbers(line), step=int(line["epoch"]))
        state = tracking_state(self.folder, self.tracker)
        self.folder.write_info(epoch=epoch, status="running", **info, **state)

    def flush(self, failed: bool = False) -> None:
        """Wait for the epoch-end writes still under way (a failed run: without raising)."""
        self.writer.wait(raise_error=not failed)

    def best_and_last(self) -> dict[str, float]:
        """best_epoch and best_<name> of every metric the best epoch logged (for the tracker)."""
        return best_metrics(self.rows, self.best.best_epoch)


def best_metrics(rows: list[dict], epoch: int | None) -> dict[str, float]:
    """best_epoch and best_<name> of every number the line of `epoch` holds ({}: no line)."""
    line = next((r for r in rows if r["epoch"] == epoch), None)
    if line is None:
        return {}
    out = {"best_epoch": float(epoch)}
    out.update(
        {
            f"best_{k}": float(v)
            for k, v in line.items()
            if k != "epoch" and isinstance(v, int | float)
        }
    )
    return out


def numbers(line: dict) -> dict[str, float]:
    """The numbers of a metrics line (a stack may log None or text beside them)."""
    return {k: v for k, v in line.items() if isinstance(v, int | float)}


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
            tracker.log_metrics(numbers(m), step=int(m["epoch"]))


def finish_tracking(folder: RunFolder, tracker, pack=None, best: dict | None = None) -> None:
    """The best epoch's metrics (`best`: best_epoch, best_<name>), artifacts (config, metrics,
    the pictures, the best or last checkpoint), the MLflow model of that checkpoint when `pack`
    is given (pack(checkpoint) -> (module, input example), see mlflow_model.py), then FINISHED."""
    rows = folder.read_metrics()
    if best and rows:
        tracker.log_metrics(best, step=int(rows[-1]["epoch"]))
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
    """config.yaml and run.json (status running) as a run starts or resumes. The output
    policy first: the config passed may not be one of the files the run rewrites."""
    plan = OutputPlan(source, {"config": source})
    for name in ("config.yaml", "run.json", "metrics.jsonl"):
        plan.add(folder.path / name, "experiment.output_dir")
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
    """run.json says why the run stopped; the tracker's run ends FAILED (KILLED on Ctrl-C or
    a stop request)."""
    status = "diverged" if isinstance(exc, TrainingDiverged) else "failed"
    status = "stopped" if isinstance(exc, StopRequested) else status
    folder.write_info(status=status, error=scrub(str(exc))[:500])
    killed = isinstance(exc, KeyboardInterrupt | StopRequested)
    tracker.finish("KILLED" if killed else "FAILED")
    folder.write_info(**tracking_state(folder, tracker))


def sync_finished(folder: RunFolder, tracker, run_name: str, pack=None) -> None:
    """A finished run whose tracking did not complete (server down): send what is missing,
    the best epoch's metrics (run.json's best_epoch) and the MLflow model (`pack`) too."""
    if not folder.info.get("mlflow_pending") or not folder.info.get("mlflow_run_id"):
        return
    if not hasattr(tracker, "on_unreachable"):
        return
    tracker.on_unreachable = "skip"  # the training is done: never fail for tracking now
    if tracker.start(run_name, folder.info["mlflow_run_id"]) is None:
        return
    log.info("sending the tracking data MLflow missed for %s", folder.path)
    rows = folder.read_metrics()
    resend_metrics(folder, tracker, rows)
    finish_tracking(folder, tracker, pack, best_metrics(rows, folder.info.get("best_epoch")))
