"""The alignment recipe for the runner (run/runner.py): one epoch is AlignmentTrainer.epoch."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from alchemi_core.alignment import figures
from alchemi_core.alignment import mlflow_model as packs
from alchemi_core.alignment.config import AlignmentConfig
from alchemi_core.alignment.config import input_files as _input_files
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.payload import TrainState

MODEL_CLASS = "AlignmentModel"
unit = "epoch"
shown = ("train_loss", "val_top1", "val_heldout_top1", "val_sam_deg", "lr")
info_keys: tuple[str, ...] = ()


@dataclass
class Built:
    cfg: AlignmentConfig
    source: str
    rt: Any
    trainer: Any  # AlignmentTrainer
    resolved: dict
    config_hash: str
    best: Any
    stopper: Any = None
    save_strategy: str = "all"


def input_files(cfg: AlignmentConfig) -> dict[str, str]:
    return _input_files(cfg)


def model_class(b: Built) -> str:
    return MODEL_CLASS


def units(b: Built) -> list[int]:
    return list(range(1, b.cfg.trainer.epochs + 1))


def epoch(b: Built, n: int) -> list[dict]:
    return [b.trainer.epoch(n)]


def train_state(b: Built) -> TrainState:
    t = b.trainer
    return TrainState(t.model, t.optimizer, t.scheduler)


def meta(b: Built) -> dict:
    return {
        "model_class": MODEL_CLASS,
        "config": b.resolved,
        "config_hash": b.config_hash,
        "lab_wavelengths": [float(w) for w in b.trainer.data.lab_tokens_wl],
        "cycle_wavelengths": [float(w) for w in b.trainer.model.cycle_grid],
    }


def state(b: Built) -> dict:
    return {}


def restore(b: Built, state: dict) -> None:
    pass


def info(b: Built) -> dict:
    return {}


def pictures(b: Built, folder: RunFolder) -> None:
    figures.draw(b.trainer, folder)


def mlflow_model(b: Built):
    return partial(packs.alignment, trainer=b.trainer)
