"""One run of any stack, top to bottom: claim the folder, decide, restore, train, finish.

A stack hands the runner its recipe (tabular/recipe.py, alignment/recipe.py, mae/recipe.py)
and what assembly built from its config. The recipe says what one epoch is, what its
checkpoint holds beyond the common payload, its pictures and its MLflow model; everything else
(folder, resume, checkpoints, tracker, non-finite checks, early stopping) is here and in
session.py, once for every stack.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from alchemi_core import distributed
from alchemi_core.errors import TrainingDiverged
from alchemi_core.run import resume, session, stop
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.payload import TrainState
from alchemi_core.run.tracking import NullTracker, flatten

log = logging.getLogger("alchemi")


class Recipe(Protocol):
    """What a stack gives the runner. `b` is what assembly built; it carries cfg, source, rt,
    resolved, config_hash, best, stopper and save_strategy."""

    info_keys: tuple[str, ...]  # the entries of info() a finished run's result repeats
    unit: str  # what the runner counts: "epoch" (a step for the MAE)
    shown: tuple[str, ...]  # the metrics each epoch's log line shows

    def model_class(self, b) -> str: ...
    def units(self, b) -> list[int]: ...
    def epoch(self, b, n: int) -> list[dict]: ...
    def train_state(self, b) -> TrainState: ...
    def meta(self, b) -> dict: ...
    def state(self, b) -> dict: ...
    def restore(self, b, state: dict) -> None: ...
    def info(self, b) -> dict: ...
    def pictures(self, b, folder: RunFolder) -> None: ...
    def mlflow_model(self, b): ...


@dataclass
class RunResult:
    run_dir: str
    status: str  # finished | already_finished
    epochs_run: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)  # the last epoch's line
    best_metrics: dict[str, float] = field(default_factory=dict)  # the best epoch's line
    # the metrics line of the epoch whose checkpoint the run reports (best, else last)
    checkpoint_metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    best_metric: float | None = None
    best_epoch: int | None = None
    mlflow_run_id: str | None = None
    config_hash: str = ""
    resumed_from_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # a stack's own entries (MAE rows)

    @property
    def metrics(self) -> dict[str, float]:
        """The last epoch's line (also `last_metrics`; the best epoch's is `best_metrics`)."""
        return self.last_metrics

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("extra") or {}
        if name in extra:
            return extra[name]
        raise AttributeError(name)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def keys(self):
        return self.to_dict().keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {**out, "metrics": self.last_metrics, **out.pop("extra")}


def execute(recipe: Recipe, b, tracker=None, overwrite: bool = False) -> RunResult:
    """Train `b` in its folder: fresh, resumed, or reused when that exact run finished."""
    folder = RunFolder(b.cfg.experiment.run_dir)
    if not distributed.is_main():
        return follow(recipe, b, folder)
    with folder.claimed():  # data parallel: rank 0 owns the folder
        return _execute(recipe, b, folder, tracker or NullTracker(), overwrite)


def _execute(recipe: Recipe, b, folder: RunFolder, tracker, overwrite: bool) -> RunResult:
    name = b.cfg.experiment.name
    decision = resume.decide(folder, b.config_hash, overwrite)
    distributed.share((decision.state, decision.checkpoint))  # the other ranks do the same
    result = RunResult(str(folder.path), "finished", config_hash=b.config_hash)
    run = session.Session(folder, tracker, recipe, b)
    if decision.state == resume.FINISHED:
        log.info("%s already finished (config %s); nothing to do", folder.path, b.config_hash)
        session.sync_finished(folder, tracker, name, recipe.mlflow_model(b))
        return fill_result(result, run, recipe, b, "already_finished")

    for stale in folder.remove_temp_files():
        log.info("removed %s (left by a killed writer)", stale)
    tags = session.run_tags(b.source, b.config_hash, b.rt, recipe.model_class(b))
    tracker.start(name, folder.info.get("mlflow_run_id"), tags=tags)
    start, stopped = 0, False
    if decision.state == resume.RESUME:
        at = f"{recipe.unit} {decision.checkpoint['epoch']} of {recipe.units(b)[-1]}"
        log.info("resuming %s from %s (%s)", folder.path, decision.path, at)
        start, stopped = run.restore(decision.checkpoint)
        result.resumed_from_epoch = start
    log.info(start_message(recipe, b, folder.path))
    extra = recipe.info(b)
    session.mark_running(folder, tracker, b.resolved, b.config_hash, b.source, b.rt, **extra)
    if decision.state == resume.RESUME:
        session.resend_metrics(folder, tracker, run.rows)
    else:
        tracker.log_params(flatten(b.resolved))
    try:
        result.epochs_run, stopped = train(recipe, b, run, start, stopped, log.info)
        run.flush()
    except BaseException as exc:
        run.flush(failed=True)
        session.record_failure(folder, tracker, exc)
        raise

    best = run.best_and_last()
    folder.write_info(
        status="finished",
        checkpoints=folder.checkpoint_hashes(),
        best_epoch=best.get("best_epoch"),
        early_stop_epoch=result.epochs_run if stopped else None,
        **recipe.info(b),
    )
    recipe.pictures(b, folder)  # before finish_tracking, which logs the *.png
    fill_result(result, run, recipe, b)
    session.finish_tracking(folder, tracker, recipe.mlflow_model(b), best)
    return result


def train(recipe: Recipe, b, run: session.Session, start: int, stopped: bool, say):
    """The epochs after `start`, each: the recipe's epoch, the non-finite check, the session's
    writes. Returns (the last epoch run, whether early stopping ended the run)."""
    last = start
    if stopped:  # early stopping had ended the run at its checkpoint: no epoch left
        return last, True
    units = [n for n in recipe.units(b) if n > start]
    total = recipe.units(b)[-1]
    for n in units:
        stop_here(run, recipe.unit, last, total)
        t0 = time.perf_counter()
        lines = recipe.epoch(b, n)
        check_finite(lines, recipe.unit, n)
        last = n
        shown = " ".join(
            f"{k}={v:.4g}" for line in lines[-1:] for k, v in line.items() if k in recipe.shown
        )
        say(f"{recipe.unit} {n}/{total} {shown} ({time.perf_counter() - t0:.1f}s)")
        if run.on_epoch_end(n, lines):
            return last, True
    return last, False


def stop_here(run: session.Session, unit: str, last: int, total: int) -> None:
    """A stop request (stop.py, on any rank): once the last epoch's writes are on disk, stop,
    so the run resumes exactly from that checkpoint."""
    asked = [s for s in distributed.gather(stop.requested()) if s is not None]
    if not asked:
        return
    run.flush()
    where = f"after {unit} {last} of {total}" if last else f"before {unit} 1 of {total}"
    raise stop.StopRequested(asked[0], where)


def check_finite(lines: list[dict], unit: str, n: int) -> None:
    """A non-finite loss or learning rate stops every stack's run, naming where."""
    for line in lines:
        for k, v in line.items():
            if (k == "lr" or k.endswith("loss")) and isinstance(v, float) and not math.isfinite(v):
                where = line.get("epoch", n)
                raise TrainingDiverged(
                    f"{k} is {v} at {unit} {where}; stopped (the last good checkpoint is kept)"
                )


def follow(recipe: Recipe, b, folder: RunFolder) -> RunResult:
    """A rank other than 0: rank 0's decision and checkpoint, the same epochs, no writes."""
    state, ckpt = distributed.share(None)
    result = RunResult(str(folder.path), "finished", config_hash=b.config_hash)
    if state == resume.FINISHED:
        result.status = "already_finished"
        return result
    run = session.Session(folder, NullTracker(), recipe, b)
    start, stopped = run.restore(ckpt) if state == resume.RESUME else (0, False)
    result.epochs_run = train(recipe, b, run, start, stopped, log.debug)[0]
    return result


def start_message(recipe: Recipe, b, run_dir: Path) -> str:
    name = f"{recipe.model_class(b)} {b.cfg.experiment.name!r}"
    return f"training {name} from {b.source}: {b.rt.summary()} -> {run_dir}"


def fill_result(result: RunResult, run, recipe: Recipe, b, status: str | None = None):
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
    result.last_metrics = rows[-1] if rows else {}
    result.best_metric, result.best_epoch = best_of(rows, run.best)
    result.best_metrics = next((r for r in rows if r["epoch"] == result.best_epoch), {})
    result.extra = recipe.info(b) if status is None else finished_info(recipe, info)
    result.checkpoint_metrics = result.best_metrics if best else result.last_metrics
    return result


def best_of(rows: list[dict], best) -> tuple[float | None, int | None]:
    """The best value of `best.metric` in `rows`, and its epoch."""
    probe = type(best)(best.metric, best.mode)
    for r in rows:
        probe.update(r, int(r["epoch"]))
    return probe.best, probe.best_epoch


def finished_info(recipe: Recipe, info: dict) -> dict:
    """The stack's own result entries of a run that had finished before (from run.json)."""
    return {k: info[k] for k in recipe.info_keys if k in info}
