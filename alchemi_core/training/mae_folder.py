"""The MAE run's folder: same layout, lock, identity and resume rules as `alchemi train`
(training/run.py), with steps where a training run has epochs."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from alchemi_core import runtime
from alchemi_core.config.mae import MAEConfig
from alchemi_core.data.spectra import earthlib_paths
from alchemi_core.errors import RunStateError, TrainingDiverged
from alchemi_core.io import FolderLock, file_sha256, remove_temp_files, write_json, write_text
from alchemi_core.secrets import redact, scrub
from alchemi_core.training import checkpoints
from alchemi_core.training.run import clear_run_dir, config_hash, read_metrics, read_run_json
from alchemi_core.training.tracking import flatten

log = logging.getLogger("alchemi")


def resolved_config(cfg: MAEConfig, rt: runtime.Runtime) -> dict:
    data = cfg.model_dump(mode="json", by_alias=True)
    d = rt.describe()
    data["global"] = {
        "seed": rt.seed,
        "device": d["device"],
        "dtype": d["dtype"],
        "amp_dtype": None if rt.amp_dtype is None else d["amp_dtype"],
        "deterministic": rt.deterministic,
    }
    return redact(data)


def input_hashes(cfg: MAEConfig, source: str) -> dict[str, str]:
    src = cfg.train.data
    if src == "synthetic":
        return {}
    if src == "earthlib":
        return {"train.data": file_sha256(earthlib_paths()[1])}
    path = Path(src) if Path(src).exists() else Path(source).parent / src
    return {"train.data": file_sha256(path)}


class MAEFolder:
    def __init__(self, cfg: MAEConfig, rt, source: str, tracker, overwrite: bool):
        self.cfg, self.rt, self.source, self.tracker = cfg, rt, source, tracker
        self.overwrite = overwrite
        self.run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
        self.ckpt_path = self.run_dir / "checkpoints" / "last_model.pt"
        self.resolved = resolved_config(cfg, rt)
        self.hash = config_hash(self.resolved, input_hashes(cfg, source))
        self.info: dict[str, Any] = {}
        self.metrics: list[dict] = []
        self.rows: list[dict] = []

    @contextlib.contextmanager
    def locked(self):
        """The folder lock; a run that fails before it began leaves nothing behind."""
        created = self.run_dir
        while not created.parent.exists():
            created = created.parent
        created = None if created.exists() else created
        lock = FolderLock(self.run_dir).acquire()
        try:
            yield
        except BaseException:
            if not (self.run_dir / "run.json").exists():
                if created is not None:
                    shutil.rmtree(created, ignore_errors=True)
                elif lock.created:
                    lock.path.unlink(missing_ok=True)
            raise
        finally:
            lock.release()

    def inspect(self) -> tuple[str, dict | None]:
        """'new', 'resume' (with the checkpoint) or 'finished'."""
        info = read_run_json(self.run_dir)
        others = [p for p in self.run_dir.iterdir() if p.name != ".lock"]
        if info is None and not others:
            return "new", None
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
        if ckpt is None:  # killed before its first checkpoint: start again, same MLflow run
            clear_run_dir(self.run_dir)
            self.info = {k: v for k, v in info.items() if k in ("mlflow_run_id", "created")}
            return "new", None
        log.info("resuming %s from %s (step %d)", self.run_dir, path, ckpt["epoch"])
        return "resume", ckpt

    def finished_rows(self) -> list[dict]:
        return list(self.info.get("rows") or [])

    def write_run_json(self, **updates: Any) -> None:
        self.info.update(updates, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        write_json(self.run_dir / "run.json", self.info)

    def begin(self, message: str, data_info: dict, ckpt: dict | None) -> None:
        for stale in remove_temp_files(self.run_dir):
            log.info("removed %s (left by a killed writer)", stale)
        tags = {"alchemi.config_path": self.source, "alchemi.config_hash": self.hash,
                "alchemi.seed": str(self.rt.seed), "alchemi.device": str(self.rt.device),
                "alchemi.dtype": str(self.rt.describe()["dtype"]), "alchemi.model": "MAE"}  # fmt: skip
        self.tracker.start(self.cfg.experiment.name, self.info.get("mlflow_run_id"), tags=tags)
        if ckpt is not None:  # lines past the checkpoint come from steps that run again
            self.metrics = [m for m in read_metrics(self.run_dir) if m["epoch"] <= ckpt["epoch"]]
            self._write_metrics()
            for m in self.metrics:
                if m["epoch"] > (self.info.get("mlflow_synced_epoch") or 0):
                    self.tracker.log_metrics(m, step=int(m["epoch"]))
        else:
            self.tracker.log_params(flatten(self.resolved))
        log.info(message)
        write_text(self.run_dir / "config.yaml", yaml.safe_dump(self.resolved, sort_keys=False))
        self.info.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.write_run_json(
            config_hash=self.hash,
            status="running",
            config_path=self.source,
            kind="mae",
            data=data_info,
            mlflow_run_id=self.tracker.run_id or self.info.get("mlflow_run_id"),
            runtime=self.rt.describe(),
        )

    def _write_metrics(self) -> None:
        text = "".join(json.dumps(m) + "\n" for m in self.metrics)
        write_text(self.run_dir / "metrics.jsonl", text)

    def append_metrics(self, line: dict) -> None:
        self.metrics.append(line)
        self._write_metrics()
        numbers = {k: v for k, v in line.items() if isinstance(v, int | float)}
        self.tracker.log_metrics(numbers, step=int(line["epoch"]))

    def save(self, step: int, model, opt, training: dict) -> None:
        payload = {
            "model_class": "MAE",
            "model_state": model.state_dict(),
            "optimizer_state": opt.state_dict(),
            "epoch": step,  # the global step (checkpoints.newest_intact orders by it)
            "metrics": dict(self.metrics[-1]) if self.metrics else {},
            "config": self.resolved,
            "config_hash": self.hash,
            "training": training,
        }
        checkpoints.save_many(payload, [self.ckpt_path])
        synced = self.tracker.synced_step
        self.write_run_json(
            epoch=step,
            status="running",
            rows=training["rows"],
            mlflow_synced_epoch=max(synced or 0, self.info.get("mlflow_synced_epoch") or 0),
        )

    def fail(self, exc: BaseException) -> None:
        status = "diverged" if isinstance(exc, TrainingDiverged) else "failed"
        self.write_run_json(status=status, error=scrub(str(exc))[:500])
        self.tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")

    def finish(self) -> None:
        hashes = {str(self.ckpt_path.relative_to(self.run_dir)): file_sha256(self.ckpt_path)}
        self.write_run_json(status="finished", rows=self.rows, checkpoints=hashes)
        self.tracker.log_artifact(self.run_dir / "config.yaml")
        self.tracker.log_artifact(self.run_dir / "metrics.jsonl")
        self.tracker.log_artifact(self.ckpt_path, "checkpoints")
        self.tracker.finish("FINISHED")
        self.write_run_json(mlflow_pending=bool(self.tracker.pending_work))
