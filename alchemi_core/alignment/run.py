"""An alignment run on disk, through the same modules as `alchemi train`: identity (run id),
run_dir (config.yaml, run.json, metrics.jsonl, checkpoints/), resume (fresh / resume /
finished / refuse), payload (what a checkpoint holds) and session (the per-epoch callback)."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from alchemi_core import distributed
from alchemi_core.alignment import figures as alignment_figures
from alchemi_core.alignment import mlflow_model as mlflow_spectral
from alchemi_core.io import file_sha256
from alchemi_core.run import resume, session
from alchemi_core.run.early_stopping import Tracker
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.identity import config_hash, resolved_config
from alchemi_core.run.payload import TrainState
from alchemi_core.run.tracking import NullTracker, flatten

log = logging.getLogger("alchemi")
MODEL_CLASS = "AlignmentModel"


def make_tracker(cfg):
    """The MLflow tracker of the config's `mlflow` block, or None without one."""
    if cfg.mlflow is None:
        return None
    from alchemi_core.run.mlflow_tracker import MLflowTracker

    return MLflowTracker(cfg.mlflow)


def input_files(cfg) -> dict[str, str]:
    d = cfg.data
    paths = {"data.lab_path": d.lab_path, "data.pairs_path": d.pairs_path}
    for key in ("sensor_paths", "eval_sensor_paths"):
        for i, p in enumerate(getattr(d, key)):
            paths[f"data.{key}[{i}]"] = p
    return {k: str(p) for k, p in paths.items() if p}


def resolved(trainer) -> dict:
    data = resolved_config(trainer.cfg, trainer.rt, {})
    data["model"].pop("params")  # the alignment model section has no free params
    return data


def start_message(trainer, run_dir: Path) -> str:
    name = trainer.cfg.experiment.name
    return f"aligning {name!r} from {trainer.source}: {trainer.rt.summary()} -> {run_dir}"


def fit(trainer, tracker=None, overwrite: bool = False) -> dict:
    """Train (or resume, or reuse a finished run of the same config and inputs)."""
    cfg = trainer.cfg
    folder = RunFolder(Path(cfg.experiment.output_dir) / cfg.experiment.name)
    if not distributed.is_main():
        return _follow(trainer, folder)
    with folder.claimed():  # data parallel: rank 0 owns the folder
        return _fit(trainer, folder, tracker or NullTracker(), overwrite)


def _session(trainer, folder: RunFolder, tracker, res: dict, run_id: str) -> session.Session:
    t = trainer.cfg.trainer
    meta = {
        "model_class": MODEL_CLASS,
        "config": res,
        "config_hash": run_id,
        "lab_wavelengths": [float(w) for w in trainer.data.lab_tokens_wl],
        "cycle_wavelengths": [float(w) for w in trainer.model.cycle_grid],
    }
    state = TrainState(trainer.model, trainer.optimizer)
    best = Tracker(t.checkpoint_metric, t.checkpoint_mode)
    return session.Session(folder, tracker, state, meta, best, save_strategy=t.save_strategy)


def _follow(trainer, folder: RunFolder) -> dict:
    """A rank other than 0: rank 0's decision and checkpoint, the same epochs, no writes."""
    state, ckpt = distributed.share(None)
    if state == resume.FINISHED:
        return {"run_dir": str(folder.path), "status": "already_finished"}
    run = _session(trainer, folder, NullTracker(), {}, "")
    start = run.restore(ckpt)[0] if state == resume.RESUME else 0
    for epoch in range(start + 1, trainer.cfg.trainer.epochs + 1):
        run.on_epoch_end(epoch, trainer.epoch(epoch))
    return {"run_dir": str(folder.path), "status": "finished"}


def _fit(trainer, folder: RunFolder, tracker, overwrite: bool) -> dict:
    cfg, t = trainer.cfg, trainer.cfg.trainer
    res = resolved(trainer)
    run_id = config_hash(res, {k: file_sha256(p) for k, p in input_files(cfg).items()})
    decision = resume.decide(folder, run_id, overwrite)
    distributed.share((decision.state, decision.checkpoint))  # the other ranks do the same
    run = _session(trainer, folder, tracker, res, run_id)
    best = run.best
    summary = {"run_dir": str(folder.path), "config_hash": run_id, "status": "finished"}
    if decision.state == resume.FINISHED:
        log.info("%s already finished (config %s); nothing to do", folder.path, run_id)
        session.sync_finished(folder, tracker, cfg.experiment.name)
        return {**summary, "status": "already_finished", **_result(folder)}
    folder.remove_temp_files()
    tags = session.run_tags(trainer.source, run_id, trainer.rt, MODEL_CLASS)
    tracker.start(cfg.experiment.name, folder.info.get("mlflow_run_id"), tags=tags)
    start = 0
    if decision.state == resume.RESUME:
        log.info("resuming %s from %s", folder.path, decision.path)
        start, _ = run.restore(decision.checkpoint)
        summary["resumed_from_epoch"] = start
    log.info(start_message(trainer, folder.path))
    session.mark_running(folder, tracker, res, run_id, trainer.source, trainer.rt)
    if decision.state == resume.RESUME:
        session.resend_metrics(folder, tracker, run.rows)
    else:
        tracker.log_params(flatten(res))
    try:
        for epoch in range(start + 1, t.epochs + 1):
            metrics = trainer.epoch(epoch)
            log.info("epoch %d: %s", epoch, _brief(metrics))
            run.on_epoch_end(epoch, metrics)
    except BaseException as exc:
        session.record_failure(folder, tracker, exc)
        raise
    folder.write_info(status="finished", checkpoints=folder.checkpoint_hashes())
    alignment_figures.draw(trainer, folder)  # before finish_tracking, which logs the *.png
    session.finish_tracking(folder, tracker, partial(mlflow_spectral.alignment, trainer=trainer))
    return {**summary, "best_metric": best.best, "best_epoch": best.best_epoch, **_result(folder)}


def _result(folder: RunFolder) -> dict:
    info = folder.read_info() or {}
    rows = folder.read_metrics()
    best, last = folder.best_checkpoint(), folder.last_checkpoint()
    return {
        "epochs_run": int(info.get("epoch", 0)),
        "best_checkpoint": str(best) if best else None,
        "last_checkpoint": str(last) if last else None,
        "mlflow_run_id": info.get("mlflow_run_id"),
        "metrics": rows[-1] if rows else {},
    }


def _brief(m: dict) -> str:
    keys = ("train_loss", "val_top1", "val_heldout_top1", "val_sam_deg")
    return ", ".join(f"{k} {m[k]:.4g}" for k in keys if k in m)
