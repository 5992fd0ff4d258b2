"""An alignment run on disk: the same folder layout, resume rule, checkpoint format and tracker
as `alchemi train` (config.yaml, run.json, metrics.jsonl, checkpoints/), built from the shared
helpers in training/run.py, checkpoints.py and io.py."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import yaml

from alchemi_core import faults, runtime
from alchemi_core.errors import RunStateError, TrainingDiverged
from alchemi_core.io import FolderLock, file_sha256, remove_temp_files, write_json, write_text
from alchemi_core.secrets import redact, scrub
from alchemi_core.training import checkpoints
from alchemi_core.training.early_stopping import Tracker
from alchemi_core.training.run import clear_run_dir, config_hash, read_metrics, read_run_json
from alchemi_core.training.tracking import NullTracker, flatten

log = logging.getLogger("alchemi")
MODEL_CLASS = "AlignmentModel"


def resolved(trainer) -> dict:
    data = trainer.cfg.model_dump(mode="json", by_alias=True)
    d = trainer.rt.describe()
    data["global"] = {k: d[k] for k in ("seed", "device", "dtype", "deterministic")}
    data["global"]["amp_dtype"] = None if trainer.rt.amp_dtype is None else d["amp_dtype"]
    return redact(data)


def input_hashes(cfg) -> dict[str, str]:
    d = cfg.data
    paths = {"data.lab_path": d.lab_path, "data.pairs_path": d.pairs_path}
    for key in ("sensor_paths", "eval_sensor_paths"):
        for i, p in enumerate(getattr(d, key)):
            paths[f"data.{key}[{i}]"] = p
    return {k: file_sha256(p) for k, p in paths.items() if p}


def start_message(trainer, run_dir: Path) -> str:
    d = trainer.rt.describe()
    return (
        f"aligning {trainer.cfg.experiment.name!r} from {trainer.source}: seed {d['seed']} "
        f"({d['seed_source']}), device {d['device']}, dtype {d['dtype']}, amp {d['amp_dtype']}, "
        f"deterministic {d['deterministic']} -> {run_dir}"
    )


class AlignRun:
    def __init__(self, trainer, tracker=None, overwrite: bool = False):
        cfg = trainer.cfg
        self.t = trainer
        self.run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.tracker = tracker or NullTracker()
        self.overwrite = overwrite
        self.best = Tracker(cfg.trainer.checkpoint_metric, cfg.trainer.checkpoint_mode)
        self.resolved = resolved(trainer)
        self.hash = config_hash(self.resolved, input_hashes(cfg))
        self.info: dict = {}
        self.metrics: list[dict] = []

    def inspect(self) -> tuple[str, dict | None]:
        if not self.run_dir.exists() or not any(p.name != ".lock" for p in self.run_dir.iterdir()):
            return "new", None
        info = read_run_json(self.run_dir)
        if info is None or info.get("config_hash") != self.hash:
            if not self.overwrite:
                what = "holds a run of a different config or data" if info else "is not empty"
                raise RunStateError(
                    f"{what}; pass --overwrite to replace it", self.run_dir, "experiment.name"
                )
            clear_run_dir(self.run_dir)
            return "new", None
        self.info = info
        if info.get("status") == "finished":
            return "finished", None
        path, ckpt = checkpoints.newest_intact(self.run_dir)
        if ckpt is None:
            clear_run_dir(self.run_dir)
            self.info = {k: v for k, v in info.items() if k in ("mlflow_run_id", "created")}
            return "new", None
        log.info("resuming %s from %s (epoch %d)", self.run_dir, path, ckpt["epoch"])
        return "resume", ckpt

    def payload(self, epoch: int, metrics: dict) -> dict:
        return {
            "model_class": MODEL_CLASS,
            "model_state": self.t.model.state_dict(),
            "optimizer_state": self.t.optimizer.state_dict(),
            "epoch": epoch,
            "metrics": dict(metrics),
            "config": self.resolved,
            "config_hash": self.hash,
            "lab_wavelengths": [float(w) for w in self.t.data.lab_tokens_wl],
            "training": {"best": self.best.state_dict(), "rng": runtime.rng_state()},
        }

    def restore(self, ckpt: dict) -> int:
        self.t.model.load_state_dict(ckpt["model_state"])
        self.t.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.best.load_state_dict(ckpt["training"]["best"])
        runtime.set_rng_state(ckpt["training"]["rng"])
        epoch = int(ckpt["epoch"])
        self.metrics = [m for m in read_metrics(self.run_dir) if m["epoch"] < epoch]
        self.metrics.append(dict(ckpt["metrics"]))
        self.write_metrics()
        return epoch

    def write_metrics(self) -> None:
        import json

        text = "".join(json.dumps(m) + "\n" for m in self.metrics)
        write_text(self.run_dir / "metrics.jsonl", text)

    def write_run_json(self, **updates) -> None:
        self.info.update(updates, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        write_json(self.run_dir / "run.json", self.info)

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        """Metrics line, then checkpoints, then tracker and run.json (as in run.Run)."""
        improved = self.best.update(metrics, epoch)
        self.metrics.append(dict(metrics))
        self.write_metrics()
        targets = [self.ckpt_dir / "last_model.pt"]
        if improved:
            targets.append(self.ckpt_dir / "best_model.pt")
        checkpoints.save_many(self.payload(epoch, metrics), targets)
        faults.point("align.epoch.saved")
        self.tracker.log_metrics(metrics, step=epoch)
        self.write_run_json(epoch=epoch, status="running")


def fit(trainer, tracker=None, overwrite: bool = False) -> dict:
    """Train (or resume, or skip a finished run); returns the run summary."""
    run = AlignRun(trainer, tracker, overwrite)
    fresh_parent = not run.run_dir.parent.exists()
    lock = FolderLock(run.run_dir)
    lock.acquire()
    try:
        return _fit(run)
    except BaseException:
        if not (run.run_dir / "run.json").exists() and fresh_parent:
            shutil.rmtree(run.run_dir.parent, ignore_errors=True)
        raise
    finally:
        lock.release()


def _fit(run: AlignRun) -> dict:
    t = run.t
    state, ckpt = run.inspect()
    summary = {"run_dir": str(run.run_dir), "config_hash": run.hash, "status": "finished"}
    if state == "finished":
        log.info("%s already finished (config %s); nothing to do", run.run_dir, run.hash)
        rows = read_metrics(run.run_dir)
        return {**summary, "status": "already_finished", "metrics": rows[-1] if rows else {}}
    remove_temp_files(run.run_dir)
    d = t.rt.describe()
    tags = {
        "alchemi.config_path": t.source,
        "alchemi.config_hash": run.hash,
        "alchemi.seed": str(d["seed"]),
        "alchemi.device": str(d["device"]),
        "alchemi.dtype": str(d["dtype"]),
        "alchemi.model": MODEL_CLASS,
    }
    run.tracker.start(t.cfg.experiment.name, run.info.get("mlflow_run_id"), tags=tags)
    start = run.restore(ckpt) if ckpt is not None else 0
    summary["resumed_from_epoch"] = start if ckpt is not None else None
    log.info(start_message(t, run.run_dir))
    write_text(run.run_dir / "config.yaml", yaml.safe_dump(run.resolved, sort_keys=False))
    run.info.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    run.write_run_json(
        config_hash=run.hash,
        status="running",
        config_path=t.source,
        mlflow_run_id=run.tracker.run_id or run.info.get("mlflow_run_id"),
        runtime=d,
    )
    if ckpt is None:
        run.tracker.log_params(flatten(run.resolved))
    try:
        for epoch in range(start + 1, t.cfg.trainer.epochs + 1):
            metrics = t.epoch(epoch)
            log.info("epoch %d: %s", epoch, _brief(metrics))
            run.on_epoch_end(epoch, metrics)
    except BaseException as exc:
        status = "diverged" if isinstance(exc, TrainingDiverged) else "failed"
        run.write_run_json(status=status, error=scrub(str(exc))[:500])
        run.tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    run.write_run_json(status="finished")
    run.tracker.log_artifact(run.run_dir / "config.yaml")
    run.tracker.log_artifact(run.run_dir / "metrics.jsonl")
    best = run.ckpt_dir / "best_model.pt"
    run.tracker.log_artifact(
        best if best.exists() else run.ckpt_dir / "last_model.pt", "checkpoints"
    )
    run.tracker.finish("FINISHED")
    return {
        **summary,
        "epochs": t.cfg.trainer.epochs,
        "best_metric": run.best.best,
        "best_epoch": run.best.best_epoch,
        "metrics": run.metrics[-1] if run.metrics else {},
    }


def _brief(m: dict) -> str:
    keys = ("train_loss", "val_top1", "val_heldout_top1", "val_sam_deg")
    return ", ".join(f"{k} {m[k]:.4g}" for k in keys if k in m)
