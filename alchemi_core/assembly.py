"""A validated config -> every object a run needs. Nothing else constructs them.

  build(cfg, source, seed)        runtime, loaders, model, losses, optimizer, scheduler (Built)
  build_tracker(mlflow)           the experiment tracker (NullTracker when mlflow is unset)
  build_best / build_early_stopper  best-checkpoint tracking and early stopping
  build_trainer(b)                the Trainer, from trainer_kwargs(b)
  build_session(b, folder, ...)   the per-epoch callback of a run
  load_model(checkpoint, ...)     the model of a checkpoint, rebuilt in eval mode
  open_checkpoint(cfg, source)    an extract/predict config's model, checkpoint and runtime
  inference_runtime(device, ...)  the runtime inference runs under (float32, no autocast)
The config -> object steps of single sections (registries, kwargs checks) live in builders.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from alchemi_core import builders, runtime
from alchemi_core.checkpoint_model import load_model
from alchemi_core.config.checks import check_inference, check_training
from alchemi_core.errors import CheckpointError, DataError
from alchemi_core.run import identity
from alchemi_core.run.early_stopping import EarlyStopper, Tracker
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.payload import TrainState
from alchemi_core.run.session import Session
from alchemi_core.run.tracking import NullTracker
from alchemi_core.tabular.trainer import Trainer


@dataclass
class Built:
    cfg: Any  # TrainingConfig
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


# Seeding and weight init use the global RNGs: one build at a time, so concurrent trials in
# threads (sweeps) each get the weights their seed gives.
_BUILD_LOCK = threading.Lock()


def build(cfg, source: str, cli_seed: int | None = None) -> Built:
    """Everything a training run needs, with no disk writes: bad input fails here."""
    with _BUILD_LOCK:
        return _build(cfg, source, cli_seed)


def _build(cfg, source: str, cli_seed: int | None) -> Built:
    check_training(cfg, source)  # imports, classes and params, before any data is read
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
    resolved = identity.resolved_config(cfg, rt, params)
    for loader in (train_loader, val_loader):
        if loader is not None:
            loader.seed(rt.seed)
            if rt.device.type != "cpu" and loader.num_workers == 0:
                loader.to(rt.device)
    run_id = identity.config_hash(resolved, identity.input_hashes(cfg))
    return Built(
        cfg, source, rt, train_loader, val_loader, model, params, loss, val_loss, optimizer,
        scheduler, resolved, run_id,
    )  # fmt: skip


def build_tracker(mlflow, on_unreachable: str | None = None):
    """An MLflowTracker for an `mlflow` section (model or dict), else a NullTracker."""
    if mlflow is None:
        return NullTracker()
    from alchemi_core.config.schema import MLflowConfig
    from alchemi_core.run.mlflow_tracker import MLflowTracker

    cfg = mlflow if isinstance(mlflow, MLflowConfig) else MLflowConfig.model_validate(mlflow)
    return MLflowTracker(cfg, on_unreachable)


def build_best(cfg) -> Tracker:
    return Tracker(cfg.checkpoint.metric, cfg.checkpoint.mode)


def build_early_stopper(cfg) -> EarlyStopper | None:
    es = cfg.val.early_stopping if cfg.val else None
    if es is None:
        return None
    return EarlyStopper(Tracker(es.metric, es.direction, es.min_delta), es.patience)


def trainer_kwargs(b: Built) -> dict[str, Any]:
    cfg = b.cfg
    return {
        "model": b.model,
        "loss_fn": b.loss,
        "optimizer": b.optimizer,
        "train_loader": b.train_loader,
        "runtime": b.rt,
        "epochs": cfg.train.epochs,
        "val_loader": b.val_loader,
        "val_loss_fn": b.val_loss,
        "val_frequency": cfg.val.frequency if cfg.val else 1,
        "scheduler": b.scheduler,
        "grad_clip_norm": cfg.train.grad_clip_norm,
    }


def build_trainer(b: Built) -> Trainer:
    return Trainer(**trainer_kwargs(b))


def checkpoint_meta(b: Built) -> dict[str, Any]:
    """What a checkpoint needs to rebuild the model (load_model) and to say what made it."""
    return {
        "model_class": b.cfg.model.class_,
        "model_params": b.model_params,
        "data_spec": b.train_loader.spec.to_dict(),
        "config": b.resolved,
        "config_hash": b.config_hash,
    }


def build_session(b: Built, folder: RunFolder, tracker, trainer: Trainer) -> Session:
    loaders = {"train": b.train_loader, "val": b.val_loader}
    state = TrainState(b.model, b.optimizer, b.scheduler, trainer.scaler, loaders)
    return Session(
        folder,
        tracker,
        state,
        checkpoint_meta(b),
        build_best(b.cfg),
        build_early_stopper(b.cfg),
        b.cfg.checkpoint.save_strategy,
    )


# -- inference ---------------------------------------------------------------------------
def inference_runtime(
    device: str | torch.device = "auto", threads: int | None = None, source: str | None = None
) -> runtime.Runtime:
    """Inference runs in float32 without autocast, on the asked device."""
    dev = device if isinstance(device, torch.device) else runtime.resolve_device(device, source)
    rt = runtime.Runtime(0, "none", dev, torch.float32, None, False, threads)
    if threads:
        torch.set_num_threads(threads)
    return rt


def open_checkpoint(cfg, source: str) -> tuple[nn.Module, dict, runtime.Runtime]:
    """An extract/predict config's model on its device, checked against model.class."""
    check_inference(cfg, source)  # classes and params, before any file is read
    rt = inference_runtime(runtime.device_name(cfg), cfg.global_.threads, source)
    try:
        model, ckpt = load_model(cfg.checkpoint.path, rt.device, cfg.checkpoint.load_strategy)
    except CheckpointError as exc:
        if not (exc.key or "").startswith("checkpoint."):  # the checkpoint file is at fault
            raise
        raise CheckpointError(exc.message, source, exc.key) from None  # a key of this config
    if ckpt["model_class"] != cfg.model.class_:
        raise CheckpointError(
            f"{cfg.model.class_!r} does not match the checkpoint {ckpt['path']}, "
            f"which holds a {ckpt['model_class']!r} model",
            source,
            "model.class",
        )
    return model, ckpt, rt


def build_evaluator(model: nn.Module, loss_fn, rt: runtime.Runtime) -> Trainer:
    """A Trainer that only evaluates (no optimizer, no loaders of its own)."""
    return Trainer(model, loss_fn, None, None, rt, 0)
