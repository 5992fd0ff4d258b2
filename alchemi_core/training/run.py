"""One training run: builds everything, owns the output folder, resumes, checkpoints, tracks.

Folder layout ({output_dir}/{name}/):
  config.yaml            resolved config, secrets redacted
  run.json               config hash, status, last epoch, MLflow run id
  metrics.jsonl          one JSON line per epoch (rewritten atomically each epoch)
  checkpoints/           best_model.pt, last_model.pt, epoch_N.pt (per save_strategy)
  state/resume.pt        the resume point when save_strategy is "best"
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alchemi_core import builders, faults, runtime
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.errors import DataError, RunStateError, TrainingDiverged
from alchemi_core.io import (
    FolderLock,
    canonical_json,
    file_sha256,
    remove_temp_files,
    text_sha256,
    write_json,
    write_text,
)
from alchemi_core.secrets import redact, scrub
from alchemi_core.training import checkpoints, figures
from alchemi_core.training.early_stopping import EarlyStopper, Tracker
from alchemi_core.training.tracking import NullTracker, flatten
from alchemi_core.training.trainer import Trainer

log = logging.getLogger("alchemi")


@dataclass
class TrainResult:
    run_dir: str
    status: str  # finished | already_finished
    epochs_run: int
    metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    best_metric: float | None = None
    best_epoch: int | None = None
    mlflow_run_id: str | None = None
    config_hash: str = ""
    resumed_from_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Built:
    cfg: TrainingConfig
    source: str
    rt: runtime.Runtime
    train_loader: Any
    val_loader: Any
    model: Any
    model_params: dict
    loss: Any
    val_loss: Any
    optimizer: Any
    scheduler: Any
    resolved: dict
    config_hash: str


def resolved_config(cfg: TrainingConfig, rt: runtime.Runtime, model_params: dict) -> dict:
    data = cfg.model_dump(mode="json", by_alias=True)
    data["global"] = {
        "seed": rt.seed,
        "device": str(rt.device),
        "dtype": rt.describe()["dtype"],
        "amp_dtype": None if rt.amp_dtype is None else rt.describe()["amp_dtype"],
        "deterministic": rt.deterministic,
    }
    data["model"]["params"] = dict(model_params)
    return redact(data)


def input_hashes(cfg: TrainingConfig) -> dict[str, str]:
    """Content hashes of the files a run reads (data, and the sources of the `imports`
    modules): a run is its config *and* its inputs."""
    paths = {
        "train.data_path": cfg.train.data_path,
        "data.cardinalities_path": cfg.data.cardinalities_path,
    }
    if cfg.val:
        paths["val.data_path"] = cfg.val.data_path
    for i, name in enumerate(cfg.imports):
        paths[f"imports[{i}]"] = builders.module_file(name)
    return {k: file_sha256(p) for k, p in paths.items() if p}


def config_hash(resolved: dict, inputs: dict[str, str] | None = None) -> str:
    keyed = json.loads(json.dumps(resolved))
    if keyed.get("mlflow"):
        keyed["mlflow"].pop("credentials", None)
    return text_sha256(canonical_json({"config": keyed, "inputs": inputs or {}}))[:16]


# Seeding and weight init use the global RNGs: one build at a time, so concurrent trials in
# threads (sweeps) each get the weights their seed gives.
_BUILD_LOCK = threading.Lock()


def build(cfg: TrainingConfig, source: str, cli_seed: int | None = None) -> Built:
    """Everything a run needs, with no disk writes: bad input fails here."""
    with _BUILD_LOCK:
        return _build(cfg, source, cli_seed)


def _build(cfg: TrainingConfig, source: str, cli_seed: int | None) -> Built:
    builders.import_user_modules(cfg.imports, source)
    rt = runtime.resolve_runtime(cfg, cli_seed, source)
    runtime.apply(rt)
    train_loader = builders.build_loader(cfg.train, cfg.data, source, "train")
    val_loader = builders.build_loader(cfg.val, cfg.data, source, "val") if cfg.val else None
    if val_loader is not None and val_loader.spec.to_dict() != train_loader.spec.to_dict():
        have, want = val_loader.spec.to_dict(), train_loader.spec.to_dict()
        diff = "; ".join(f"{k} {v} (train: {want[k]})" for k, v in have.items() if v != want[k])
        raise DataError(f"val data differs from train data: {diff}", source, "val.data_path")
    model, params = builders.build_model(cfg.model, train_loader.spec, source)
    model = model.to(device=rt.device, dtype=rt.dtype)
    loss = builders.build_loss(cfg.train.loss, source, "train.loss")
    val_loss = builders.build_loss(cfg.val.loss, source, "val.loss") if cfg.val else None
    builders.check_metric_names(cfg, loss, val_loss, source)
    optimizer = builders.build_optimizer(cfg.train.optimizer_config, model.parameters(), source)
    scheduler = builders.build_scheduler(cfg.train.scheduler, optimizer, source)
    resolved = resolved_config(cfg, rt, params)
    for loader in (train_loader, val_loader):
        if loader is not None:
            loader.seed(rt.seed)
            if rt.device.type != "cpu" and loader.num_workers == 0:
                loader.to(rt.device)
    return Built(
        cfg,
        source,
        rt,
        train_loader,
        val_loader,
        model,
        params,
        loss,
        val_loss,
        optimizer,
        scheduler,
        resolved,
        config_hash(resolved, input_hashes(cfg)),
    )


def read_run_json(run_dir: Path) -> dict | None:
    path = run_dir / "run.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"config_hash": None, "status": "unknown"}


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs in metrics.jsonl (a torn or foreign line ends the list)."""
    path = run_dir / "metrics.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
                int(row["epoch"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                break
            rows.append(row)
    return rows


def clear_run_dir(run_dir: Path) -> None:
    for child in run_dir.iterdir():
        if child.name == ".lock":
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()


class Run:
    """The side effects of a training run; its on_epoch_end is the trainer's callback."""

    def __init__(self, b: Built, tracker=None, overwrite: bool = False):
        self.b = b
        cfg = b.cfg
        self.run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.tracker = tracker or NullTracker()
        self.overwrite = overwrite
        self.best = Tracker(cfg.checkpoint.metric, cfg.checkpoint.mode)
        es = cfg.val.early_stopping if cfg.val else None
        self.stopper = (
            EarlyStopper(Tracker(es.metric, es.direction, es.min_delta), es.patience)
            if es
            else None
        )
        self.info: dict[str, Any] = {}
        self.last_metrics: dict[str, float] = {}
        self.metrics: list[dict] = []  # the content of metrics.jsonl
        self.lock = FolderLock(self.run_dir)

    # -- folder state --------------------------------------------------------------
    def inspect(self) -> tuple[str, dict | None]:
        """'new', 'resume' or 'finished' (and the checkpoint to resume from)."""
        if not self.run_dir.exists():
            return "new", None
        info = read_run_json(self.run_dir)
        others = [p for p in self.run_dir.iterdir() if p.name != ".lock"]
        if info is None and not others:
            return "new", None
        same = info is not None and info.get("config_hash") == self.b.config_hash
        if not same:
            if not self.overwrite:
                what = (
                    "holds a run of a different config or data"
                    if info
                    else "is not empty and holds no alchemi run"
                )
                raise RunStateError(
                    f"{what}; pass --overwrite to replace it", self.run_dir, "experiment.name"
                )
            clear_run_dir(self.run_dir)
            return "new", None
        self.info = info or {}
        if self.info.get("status") == "finished":
            changed = self.changed_checkpoints()
            if not changed:
                return "finished", None
            if not self.overwrite:
                raise RunStateError(
                    f"{changed[0]} changed since the run finished; pass --overwrite to train again",
                    self.run_dir,
                    "experiment.name",
                )
            log.info("%s changed since the run finished: training again", changed[0])
            clear_run_dir(self.run_dir)
            self.info = {k: v for k, v in self.info.items() if k in ("mlflow_run_id", "created")}
            return "new", None
        path, ckpt = checkpoints.newest_intact(self.run_dir)
        if ckpt is None:  # killed before its first checkpoint: start again, same MLflow run
            clear_run_dir(self.run_dir)
            self.info = {k: v for k, v in self.info.items() if k in ("mlflow_run_id", "created")}
            return "new", None
        log.info(
            "resuming %s from %s (epoch %d of %d)",
            self.run_dir,
            path,
            ckpt["epoch"],
            self.b.cfg.train.epochs,
        )
        return "resume", ckpt

    def checkpoint_hashes(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.run_dir)): file_sha256(p)
            for p in sorted(self.ckpt_dir.glob("*.pt"))
        }

    def changed_checkpoints(self) -> list[str]:
        """Checkpoints recorded when the run finished that are now missing or altered."""
        recorded = self.info.get("checkpoints") or {}
        changed = []
        for rel, digest in recorded.items():
            path = self.run_dir / rel
            if not path.is_file() or file_sha256(path) != digest:
                changed.append(str(path))
        return changed

    def write_run_json(self, **updates: Any) -> None:
        self.info.update(updates, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        write_json(self.run_dir / "run.json", self.info)

    # -- checkpoints -----------------------------------------------------------------
    def payload(self, epoch: int, metrics: dict[str, float], stopped: bool) -> dict[str, Any]:
        b = self.b
        training = {
            "stopped": stopped,  # early stopping ended the run at this epoch
            "best": self.best.state_dict(),
            "early": self.stopper.tracker.state_dict() if self.stopper else None,
            "rng": runtime.rng_state(),
            "loaders": {
                "train": b.train_loader.state_dict(),
                "val": b.val_loader.state_dict() if b.val_loader else None,
            },
            "scaler": None,
        }
        return {
            "model_class": b.cfg.model.class_,
            "model_params": b.model_params,
            "data_spec": b.train_loader.spec.to_dict(),
            "model_state": b.model.state_dict(),
            "optimizer_state": b.optimizer.state_dict(),
            "scheduler_state": b.scheduler.state_dict() if b.scheduler else None,
            "epoch": epoch,
            "metrics": dict(metrics),
            "config": b.resolved,
            "config_hash": b.config_hash,
            "training": training,
        }

    def save(
        self, epoch: int, metrics: dict[str, float], improved: bool | None, stop: bool
    ) -> None:
        strategy = self.b.cfg.checkpoint.save_strategy
        targets = []
        if strategy in ("last", "all"):
            targets.append(self.ckpt_dir / "last_model.pt")
        if strategy == "all":
            targets.append(self.ckpt_dir / f"epoch_{epoch}.pt")
        if strategy in ("best", "all") and improved:
            targets.append(self.ckpt_dir / "best_model.pt")
        if strategy == "best":
            targets.append(self.run_dir / "state" / "resume.pt")
        checkpoints.save_many(self.payload(epoch, metrics, stop), targets)

    def restore(self, ckpt: dict) -> tuple[int, bool]:
        """Load every state the checkpoint holds; returns (epoch, stopped early)."""
        b = self.b
        b.model.load_state_dict(ckpt["model_state"])
        b.optimizer.load_state_dict(ckpt["optimizer_state"])
        if b.scheduler is not None and ckpt["scheduler_state"] is not None:
            b.scheduler.load_state_dict(ckpt["scheduler_state"])
        t = ckpt["training"]
        self.best.load_state_dict(t["best"])
        if self.stopper and t["early"]:
            self.stopper.tracker.load_state_dict(t["early"])
        b.train_loader.load_state_dict(t["loaders"]["train"])
        if b.val_loader is not None and t["loaders"]["val"]:
            b.val_loader.load_state_dict(t["loaders"]["val"])
        runtime.set_rng_state(t["rng"])
        epoch = int(ckpt["epoch"])
        self.last_metrics = dict(ckpt["metrics"])
        # Lines past the checkpoint are from epochs that will run again; the checkpoint's
        # own epoch comes from the checkpoint (a kill may have come before its line).
        kept = [m for m in read_metrics(self.run_dir) if m["epoch"] < epoch]
        self.metrics = [*kept, self.last_metrics]
        self.write_metrics()
        return epoch, bool(t.get("stopped"))

    def write_metrics(self) -> None:
        text = "".join(json.dumps(m) + "\n" for m in self.metrics)
        write_text(self.run_dir / "metrics.jsonl", text)

    def resend_metrics(self) -> None:
        """Queue the epochs the tracker has not confirmed (a crash or an outage lost them)."""
        synced = self.info.get("mlflow_synced_epoch") or 0
        for m in self.metrics:
            if m["epoch"] > synced:
                self.tracker.log_metrics(m, step=int(m["epoch"]))

    def tracking_state(self) -> dict[str, Any]:
        synced = self.tracker.synced_step
        return {
            "mlflow_synced_epoch": max(synced or 0, self.info.get("mlflow_synced_epoch") or 0),
            "mlflow_pending": bool(self.tracker.pending_work),
        }

    # -- the callback ------------------------------------------------------------------
    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        """Metrics line, then checkpoint, then tracker and run.json: a kill between any two
        leaves a state the next start resumes from exactly."""
        improved = self.best.update(metrics, epoch)
        stop = self.stopper.should_stop(metrics, epoch) if self.stopper else False
        self.metrics.append(dict(metrics))
        self.write_metrics()
        self.save(epoch, metrics, improved, stop)
        faults.point("epoch.saved")
        self.tracker.log_metrics(metrics, step=epoch)
        self.last_metrics = metrics
        self.write_run_json(epoch=epoch, status="running", **self.tracking_state())
        if stop:
            log.info(
                "early stopping at epoch %d: %s has not improved for %d validations",
                epoch,
                self.stopper.tracker.metric,
                self.stopper.patience,
            )
        return stop


def start_message(b: Built, run_dir: Path) -> str:
    d = b.rt.describe()
    return (
        f"training {b.cfg.model.class_} {b.cfg.experiment.name!r} from {b.source}: "
        f"seed {d['seed']} ({d['seed_source']}), device {d['device']}, dtype {d['dtype']}, "
        f"amp {d['amp_dtype']}, deterministic {d['deterministic']} -> {run_dir}"
    )


def execute(b: Built, tracker=None, overwrite: bool = False) -> TrainResult:
    run = Run(b, tracker, overwrite)
    created = run.run_dir  # the outermost folder this call creates, if any
    while not created.parent.exists():
        created = created.parent
    created = None if created.exists() else created
    run.lock.acquire()  # before anything else: a second process on this folder stops here
    try:
        return _execute(run)
    except BaseException:
        if not (run.run_dir / "run.json").exists():  # failed before it began: leave no trace
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            elif run.lock.created:
                run.lock.path.unlink(missing_ok=True)
        raise
    finally:
        run.lock.release()


def _execute(run: Run) -> TrainResult:
    b = run.b
    state, ckpt = run.inspect()
    result = TrainResult(str(run.run_dir), "finished", 0, config_hash=b.config_hash)
    if state == "finished":
        log.info("%s already finished (config %s); nothing to do", run.run_dir, b.config_hash)
        sync_finished(run)
        return fill_result(result, run, status="already_finished")
    for stale in remove_temp_files(run.run_dir):
        log.info("removed %s (left by a killed writer)", stale)
    run.tracker.start(b.cfg.experiment.name, run.info.get("mlflow_run_id"), tags=run_tags(b))
    start_epoch, stopped = 0, False
    if ckpt is not None:
        start_epoch, stopped = run.restore(ckpt)
        result.resumed_from_epoch = start_epoch
    log.info(start_message(b, run.run_dir))
    write_text(run.run_dir / "config.yaml", yaml.safe_dump(b.resolved, sort_keys=False))
    run.info.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    run.write_run_json(
        config_hash=b.config_hash,
        status="running",
        config_path=b.source,
        mlflow_run_id=run.tracker.run_id or run.info.get("mlflow_run_id"),
        runtime=b.rt.describe(),
    )
    if ckpt is None:
        run.tracker.log_params(flatten(b.resolved))
    else:
        run.resend_metrics()
    epochs = start_epoch if stopped else b.cfg.train.epochs
    trainer = Trainer(
        b.model,
        b.loss,
        b.optimizer,
        b.train_loader,
        b.rt,
        epochs,
        b.val_loader,
        b.val_loss,
        b.cfg.val.frequency if b.cfg.val else 1,
        b.scheduler,
        b.cfg.train.grad_clip_norm,
    )
    try:
        result.epochs_run = trainer.fit(start_epoch, run.on_epoch_end, log.info)
    except BaseException as exc:
        status = "diverged" if isinstance(exc, TrainingDiverged) else "failed"
        run.write_run_json(status=status, error=scrub(str(exc))[:500])
        run.tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        run.write_run_json(**run.tracking_state())
        raise
    run.write_run_json(status="finished", checkpoints=run.checkpoint_hashes())
    fill_result(result, run)
    checkpoint = result.best_checkpoint or result.last_checkpoint
    figures.draw(run.run_dir, checkpoint, b.val_loader or b.train_loader, b.cfg)
    finish_tracking(run, checkpoint)
    return result


def finish_tracking(run: Run, checkpoint: str | None) -> None:
    run.tracker.log_artifact(run.run_dir / "config.yaml")
    run.tracker.log_artifact(run.run_dir / "metrics.jsonl")
    for name in figures.NAMES:
        if (run.run_dir / name).exists():
            run.tracker.log_artifact(run.run_dir / name)
    if checkpoint:
        run.tracker.log_artifact(checkpoint, "checkpoints")
        run.tracker.log_model(checkpoint, run.b.train_loader)
    run.tracker.finish("FINISHED")
    run.write_run_json(**run.tracking_state())


def sync_finished(run: Run) -> None:
    """A finished run whose tracking did not complete (server down): send what is missing."""
    if not run.info.get("mlflow_pending") or not run.info.get("mlflow_run_id"):
        return
    if not hasattr(run.tracker, "on_unreachable"):
        return
    run.tracker.on_unreachable = "skip"  # the training is done: never fail for tracking now
    if run.tracker.start(run.b.cfg.experiment.name, run.info["mlflow_run_id"]) is None:
        return
    log.info("sending the tracking data MLflow missed for %s", run.run_dir)
    run.metrics = read_metrics(run.run_dir)
    run.resend_metrics()
    best = run.ckpt_dir / "best_model.pt"
    last = run.ckpt_dir / "last_model.pt"
    checkpoint = best if best.exists() else last if last.exists() else None
    finish_tracking(run, str(checkpoint) if checkpoint else None)


def run_tags(b: Built) -> dict[str, str]:
    d = b.rt.describe()
    return {
        "alchemi.config_path": b.source,
        "alchemi.config_hash": b.config_hash,
        "alchemi.seed": str(d["seed"]),
        "alchemi.device": str(d["device"]),
        "alchemi.dtype": str(d["dtype"]),
        "alchemi.model": b.cfg.model.class_,
    }


def fill_result(result: TrainResult, run: Run, status: str | None = None) -> TrainResult:
    if status:
        result.status = status
    best = run.ckpt_dir / "best_model.pt"
    last = run.ckpt_dir / "last_model.pt"
    result.best_checkpoint = str(best) if best.exists() else None
    result.last_checkpoint = str(last) if last.exists() else None
    info = read_run_json(run.run_dir) or {}
    result.mlflow_run_id = info.get("mlflow_run_id")
    result.epochs_run = result.epochs_run or int(info.get("epoch", 0))
    rows = read_metrics(run.run_dir)
    if rows:
        result.metrics = rows[-1]
    result.best_metric, result.best_epoch = run.best.best, run.best.best_epoch
    if result.best_metric is None and result.metrics:
        result.best_metric = result.metrics.get(run.best.metric)
    return result
