"""The MAE recipe for the runner (run/runner.py): one MAE per masking ratio, trained in turn.

The runner counts global steps (ratio index * train.steps + step). Its epochs end at each
checkpoint (every train.checkpoint_every steps and at each ratio's end); an epoch writes a
metrics line every train.log_every steps ("epoch" in it is the global step). Batches and masks
are a function of (seed, ratio, step), so a resumed run gives the uninterrupted losses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from alchemi_core import faults, runtime
from alchemi_core.alignment import mlflow_model as packs
from alchemi_core.mae.config import MAEConfig
from alchemi_core.mae.data import make_batch, step_generator
from alchemi_core.mae.harness import LossSum, ratio_row, train_step
from alchemi_core.mae.spectra import source_files
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.payload import TrainState

unit = "step"
shown = ("train_loss", "val_masked_loss")
info_keys = ("rows", "data")


@dataclass
class Built:
    cfg: MAEConfig
    source: str
    rt: Any
    data: Any  # mae.data.Tokens
    resolved: dict
    config_hash: str
    best: Any
    stopper: Any = None
    save_strategy: str = "last"
    make: Any = None  # make(runtime) -> (MAE, optimizer, scheduler): assembly.mae_parts
    model: Any = None  # the MAE of the ratio being trained
    optimizer: Any = None
    scheduler: Any = None
    ratio: int = -1  # its index in train.mask_ratios
    step: int = 0  # its last step trained
    loss: LossSum | None = None
    loss_n: int = 0
    rows: list[dict] = field(default_factory=list)  # one per finished ratio


def input_files(cfg: MAEConfig, source: str) -> dict[str, str]:
    files = source_files(cfg.train.data, source)
    return {f"train.data[{i}]": str(p) for i, p in enumerate(files)}


def model_class(b: Built) -> str:
    return "MAE"


def units(b: Built) -> list[int]:
    t = b.cfg.train
    ends = sorted({*range(t.checkpoint_every, t.steps, t.checkpoint_every), t.steps})
    return [i * t.steps + s for i in range(len(t.mask_ratios)) for s in ends]


def start_ratio(b: Built, i: int) -> None:
    """A fresh MAE, optimizer and loss sum for masking ratio i (seeded by it)."""
    runtime.seed_everything(b.rt.seed + i)
    b.model, b.optimizer, b.scheduler = b.make(b.rt)
    b.model.train()
    b.ratio, b.step, b.loss, b.loss_n = i, 0, LossSum(b.rt.device), 0


def epoch(b: Built, n: int) -> list[dict]:
    """The steps up to global step n; a line every log_every steps and at the ratio's end."""
    t = b.cfg.train
    i, end = divmod(n - 1, t.steps)
    end += 1
    if i != b.ratio or b.step == t.steps:
        start_ratio(b, i)
    ratio, lines = t.mask_ratios[i], []
    for step in range(b.step + 1, end + 1):
        batch = make_batch(b.data.train, t.batch_size, ratio, step_generator(b.rt.seed, i, step))
        b.loss.add(train_step(b.model, b.optimizer, b.rt, *batch), step)
        b.loss_n += 1
        b.step = step
        faults.point("mae.step")
        last = step == t.steps
        if step % t.log_every and not last:
            continue
        line = {"epoch": i * t.steps + step, "step": step, "mask_ratio": ratio}
        line["train_loss"] = b.loss.total(ratio) / b.loss_n  # a NaN stops here
        line["lr"] = b.optimizer.param_groups[0]["lr"]
        b.loss.reset()
        b.loss_n = 0
        if last:
            row = ratio_row(b.model, b.cfg, b.rt, b.data, ratio, b.make)
            b.rows.append(row)
            line.update({f"val_{k}": v for k, v in row.items() if k != "mask_ratio"})
        lines.append(line)
        if b.scheduler is not None:
            b.scheduler.step()
    b.loss.total(ratio)  # a NaN since the last line stops before the checkpoint
    return lines


def train_state(b: Built) -> TrainState:
    return TrainState(b.model, b.optimizer, b.scheduler)


def meta(b: Built) -> dict:
    return {"model_class": "MAE", "config": b.resolved, "config_hash": b.config_hash}


def state(b: Built) -> dict:
    return {
        "ratio_index": b.ratio,
        "step": b.step,
        "rows": list(b.rows),
        "loss_sum": float(b.loss.sum),
        "loss_n": b.loss_n,
    }


def restore(b: Built, state: dict) -> None:
    """The ratio's MAE rebuilt as it started (the runner then loads its weights)."""
    start_ratio(b, state["ratio_index"])
    b.step, b.rows, b.loss_n = state["step"], list(state["rows"]), state["loss_n"]
    b.loss = LossSum(b.rt.device, state["loss_sum"])


def info(b: Built) -> dict:
    return {"kind": "mae", "data": b.data.info, "rows": list(b.rows)}


def pictures(b: Built, folder: RunFolder) -> None:
    pass


def mlflow_model(b: Built):
    return partial(packs.mae, cfg=b.cfg, data=b.data, build=lambda cfg, rt: b.make(rt)[0])
