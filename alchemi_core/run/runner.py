"""One training run, top to bottom: claim the folder, decide, restore, train, finish.

Each step is one module: identity (the run id), run_dir (the folder), resume (what to do with
it), payload (what a checkpoint holds), session (the per-epoch callback), assembly (building).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from alchemi_core import assembly, distributed
from alchemi_core.assembly import Built
from alchemi_core.run import resume, session
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.tracking import NullTracker, flatten
from alchemi_core.tabular import figures, mlflow_model

log = logging.getLogger("alchemi")


@dataclass
class TrainResult:
    run_dir: str
    status: str  # finished | already_finished
    epochs_run: int
    metrics: dict[str, float] = field(default_factory=dict)
    # the metrics row of the epoch whose checkpoint the run reports (best, else last)
    checkpoint_metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    best_metric: float | None = None
    best_epoch: int | None = None
    mlflow_run_id: str | None = None
    config_hash: str = ""
    resumed_from_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def execute(b: Built, tracker=None, overwrite: bool = False) -> TrainResult:
    """Train `b` in its folder: fresh, resumed, or reused when that exact run finished."""
    folder = RunFolder(Path(b.cfg.experiment.output_dir) / b.cfg.experiment.name)
    if not distributed.is_main():
        return follow(b, folder)
    with folder.claimed():  # data parallel: rank 0 owns the folder
        return _execute(b, folder, tracker or NullTracker(), overwrite)


def _execute(b: Built, folder: RunFolder, tracker, overwrite: bool) -> TrainResult:
    cfg = b.cfg
    decision = resume.decide(folder, b.config_hash, overwrite)
    distributed.share((decision.state, decision.checkpoint))  # the other ranks do the same
    result = TrainResult(str(folder.path), "finished", 0, config_hash=b.config_hash)
    trainer = assembly.build_trainer(b)
    run = assembly.build_session(b, folder, tracker, trainer)
    if decision.state == resume.FINISHED:
        log.info("%s already finished (config %s); nothing to do", folder.path, b.config_hash)
        session.sync_finished(folder, tracker, cfg.experiment.name)
        return fill_result(result, run, status="already_finished")

    for stale in folder.remove_temp_files():
        log.info("removed %s (left by a killed writer)", stale)
    tracker.start(
        cfg.experiment.name,
        folder.info.get("mlflow_run_id"),
        tags=session.run_tags(b.source, b.config_hash, b.rt, b.cfg.model.class_),
    )
    start_epoch, stopped = 0, False
    if decision.state == resume.RESUME:
        log.info(
            "resuming %s from %s (epoch %d of %d)",
            folder.path,
            decision.path,
            decision.checkpoint["epoch"],
            cfg.train.epochs,
        )
        start_epoch, stopped = run.restore(decision.checkpoint)
        result.resumed_from_epoch = start_epoch
    log.info(start_message(b, folder.path))

    session.mark_running(folder, tracker, b.resolved, b.config_hash, b.source, b.rt)
    if decision.state == resume.RESUME:
        session.resend_metrics(folder, tracker, run.rows)
    else:
        tracker.log_params(flatten(b.resolved))

    if stopped:  # early stopping had ended the run at its checkpoint: no epoch left
        trainer.epochs = start_epoch
    try:
        result.epochs_run = trainer.fit(start_epoch, run.on_epoch_end, log.info)
    except BaseException as exc:
        session.record_failure(folder, tracker, exc)
        raise

    folder.write_info(status="finished", checkpoints=folder.checkpoint_hashes())
    checkpoint = folder.best_checkpoint() or folder.last_checkpoint()
    figures.draw(folder.path, checkpoint and str(checkpoint), b.val_loader or b.train_loader, b.cfg)
    fill_result(result, run)
    session.finish_tracking(
        folder,
        tracker,
        partial(
            mlflow_model.tabular, loader=b.train_loader, cardinalities=cfg.data.cardinalities_path
        ),
    )
    return result


def follow(b: Built, folder: RunFolder) -> TrainResult:
    """A rank other than 0: rank 0's decision and checkpoint, the same epochs, no writes."""
    state, ckpt = distributed.share(None)
    result = TrainResult(str(folder.path), "finished", 0, config_hash=b.config_hash)
    if state == resume.FINISHED:
        result.status = "already_finished"
        return result
    trainer = assembly.build_trainer(b)
    run = assembly.build_session(b, folder, NullTracker(), trainer)
    start_epoch, stopped = run.restore(ckpt) if state == resume.RESUME else (0, False)
    if stopped:
        trainer.epochs = start_epoch
    result.epochs_run = trainer.fit(start_epoch, run.on_epoch_end, log.debug)
    return result


def start_message(b: Built, run_dir: Path) -> str:
    name = f"{b.cfg.model.class_} {b.cfg.experiment.name!r}"
    return f"training {name} from {b.source}: {b.rt.summary()} -> {run_dir}"


def fill_result(
    result: TrainResult, run: session.Session, status: str | None = None
) -> TrainResult:
    folder = run.folder
    if status:
        result.status = status
    best, last = folder.best_checkpoint(), folder.last_checkpoint()
    result.best_checkpoint = str(best) if best else None
    result.last_checkpoint = str(last) if last else None
    info = folder.read_info() or {}
    result.mlflow_run_id = info.get("mlflow_run_id")
    result.epochs_run = result.epochs_run or int(info.get("epoch", 0))
    rows = folder.read_metrics()
    if rows:
        result.metrics = rows[-1]
    result.best_metric, result.best_epoch = run.best.best, run.best.best_epoch
    if result.best_metric is None and result.metrics:
        result.best_metric = result.metrics.get(run.best.metric)
    epoch = result.best_epoch if best else None
    chosen = [r for r in rows if epoch is not None and r.get("epoch") == epoch]
    result.checkpoint_metrics = chosen[-1] if chosen else result.metrics
    return result
