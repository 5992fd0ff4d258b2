"""The VAE/SAE recipe for the runner (run/runner.py): one epoch is Trainer.epoch."""

from __future__ import annotations

from functools import partial

from alchemi_core.run import identity
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.payload import TrainState
from alchemi_core.tabular import figures
from alchemi_core.tabular import mlflow_model as packs

unit = "epoch"
shown = ("train_loss", "val_loss", "lr")
info_keys: tuple[str, ...] = ()


def input_files(cfg) -> dict[str, str]:
    return identity.input_files(cfg)


def model_class(b) -> str:
    return b.cfg.model.class_


def units(b) -> list[int]:
    return list(range(1, b.cfg.train.epochs + 1))


def epoch(b, n: int) -> list[dict]:
    return [b.trainer.epoch(n)]


def train_state(b) -> TrainState:
    loaders = {"train": b.train_loader, "val": b.val_loader}
    return TrainState(b.model, b.optimizer, b.scheduler, b.trainer.scaler, loaders)


def meta(b) -> dict:
    """What a checkpoint needs to rebuild the model (load_model) and to say what made it."""
    return {
        "model_class": b.cfg.model.class_,
        "model_params": b.model_params,
        "data_spec": b.train_loader.spec.to_dict(),
        "config": b.resolved,
        "config_hash": b.config_hash,
        **({"column_norms": b.column_norms} if b.column_norms else {}),
    }


def state(b) -> dict:
    return {}


def restore(b, state: dict) -> None:
    pass


def info(b) -> dict:
    return {}


def pictures(b, folder: RunFolder) -> None:
    checkpoint = folder.best_checkpoint() or folder.last_checkpoint()
    figures.draw(folder.path, checkpoint and str(checkpoint), b.val_loader or b.train_loader, b.cfg)


def mlflow_model(b):
    cards = b.cfg.data.cardinalities_path
    return partial(packs.tabular, loader=b.train_loader, cardinalities=cards)
