"""The MAE run's folder: the RunFolder, resume decision and tracker sync of `alchemi train`
(run_dir.py, resume.py, session.py), with steps where a training run has epochs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alchemi_core import runtime
from alchemi_core.io import file_sha256
from alchemi_core.mae.config import MAEConfig
from alchemi_core.mae.spectra import source_files
from alchemi_core.run import checkpoints, resume, session
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.identity import config_hash, runtime_block
from alchemi_core.run.tracking import flatten
from alchemi_core.secrets import redact

log = logging.getLogger("alchemi")


def resolved_config(cfg: MAEConfig, rt: runtime.Runtime) -> dict:
    data = cfg.model_dump(mode="json", by_alias=True)
    data["global"] = runtime_block(rt)
    return redact(data)


def input_hashes(cfg: MAEConfig, source: str) -> dict[str, str]:
    files = source_files(cfg.train.data, source)
    return {f"train.data[{i}]": file_sha256(p) for i, p in enumerate(files)}


class MAEFolder:
    def __init__(self, cfg: MAEConfig, rt, source: str, tracker, overwrite: bool):
        self.cfg, self.rt, self.source, self.tracker = cfg, rt, source, tracker
        self.overwrite = overwrite
        self.folder = RunFolder(Path(cfg.experiment.output_dir) / cfg.experiment.name)
        self.run_dir = self.folder.path
        self.ckpt_path = self.folder.ckpt_dir / "last_model.pt"
        self.resolved = resolved_config(cfg, rt)
        self.hash = config_hash(self.resolved, input_hashes(cfg, source))
        self.metrics: list[dict] = []
        self.rows: list[dict] = []

    def claimed(self):
        return self.folder.claimed()

    def inspect(self) -> tuple[str, dict | None]:
        """'fresh', 'resume' (with the checkpoint) or 'finished'."""
        d = resume.decide(self.folder, self.hash, self.overwrite)
        if d.state == resume.RESUME:
            log.info("resuming %s from %s (step %d)", self.run_dir, d.path, d.checkpoint["epoch"])
        if d.state == resume.FINISHED:
            session.sync_finished(self.folder, self.tracker, self.cfg.experiment.name)
        return d.state, d.checkpoint

    def finished_rows(self) -> list[dict]:
        return list(self.folder.info.get("rows") or [])

    def begin(self, message: str, data_info: dict, ckpt: dict | None) -> None:
        f = self.folder
        for stale in f.remove_temp_files():
            log.info("removed %s (left by a killed writer)", stale)
        tags = session.run_tags(self.source, self.hash, self.rt, "MAE")
        self.tracker.start(self.cfg.experiment.name, f.info.get("mlflow_run_id"), tags=tags)
        if ckpt is not None:  # lines past the checkpoint come from steps that run again
            self.metrics = [m for m in f.read_metrics() if m["epoch"] <= ckpt["epoch"]]
            f.write_metrics(self.metrics)
            session.resend_metrics(f, self.tracker, self.metrics)
        else:
            self.tracker.log_params(flatten(self.resolved))
        log.info(message)
        session.mark_running(
            f,
            self.tracker,
            self.resolved,
            self.hash,
            self.source,
            self.rt,
            kind="mae",
            data=data_info,
        )

    def append_metrics(self, line: dict) -> None:
        self.metrics.append(line)
        self.folder.write_metrics(self.metrics)
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
        self.folder.write_info(
            epoch=step,
            status="running",
            rows=training["rows"],
            **session.tracking_state(self.folder, self.tracker),
        )

    def fail(self, exc: BaseException) -> None:
        session.record_failure(self.folder, self.tracker, exc)

    def finish(self, pack=None) -> dict[str, Any]:
        """`pack`: the MLflow model of the last checkpoint (session.finish_tracking)."""
        f = self.folder
        f.write_info(status="finished", rows=self.rows, checkpoints=f.checkpoint_hashes())
        session.finish_tracking(f, self.tracker, pack)
        return f.info
