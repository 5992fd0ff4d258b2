"""A validated config -> every object a run needs, for every stack. Nothing else constructs them.

  build(cfg, source, seed)            a VAE/SAE run: runtime, loaders, model, losses, optimizer,
                                      scheduler, trainer, best/early stopping (Built)
  build_alignment(cfg, source, seed)  an alignment run: its data, model, optimizer, trainer
  build_mae(cfg, source, seed)        an MAE run: its tokens; mae_parts makes each ratio's MAE
  build_tracker(mlflow)               the experiment tracker (NullTracker when mlflow is unset)
  load_model / open_checkpoint        a checkpoint's model (inference), inference_runtime
The runner (run/runner.py) takes what these return with the stack's recipe. The steps of single
sections (registries, kwargs checks) live in builders.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from alchemi_core import builders, distributed, runtime
from alchemi_core.checkpoint_model import load_model
from alchemi_core.config.checks import check_inference, check_losses, check_training
from alchemi_core.errors import CheckpointError, DataError
from alchemi_core.io import file_sha256
from alchemi_core.run import identity
from alchemi_core.run.early_stopping import BestMetric, EarlyStopper
from alchemi_core.run.tracking import NullTracker
from alchemi_core.secrets import redact
from alchemi_core.tabular import column_norms
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
    column_norms: dict | None = None  # each column's trivial loss on the train split
    trainer: Any = None
    best: Any = None
    stopper: Any = None
    save_strategy: str = "best"


# Seeding and weight init use the global RNGs: one build at a time, so concurrent trials in
# threads (sweeps) each get the weights their seed gives.
_BUILD_LOCK = threading.Lock()


def build(cfg, source: str, cli_seed: int | None = None) -> Built:
    """Everything a training run needs, with no disk writes: bad input fails here."""
    with _BUILD_LOCK:
        return _build(cfg, source, cli_seed)


def _build(cfg, source: str, cli_seed: int | None) -> Built:
    check_training(cfg, source, build=False)  # imports, classes, params: before any data
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
    check_losses(cfg, loss, val_loss, source)
    norms = fit_losses(train_loader, loss, val_loss)
    optimizer = builders.build_optimizer(cfg.train.optimizer_config, model.parameters(), source)
    scheduler = builders.build_scheduler(cfg.train.scheduler, optimizer, source)
    resolved = identity.resolved_config(cfg, rt, params)
    for loader in (train_loader, val_loader):
        if loader is not None:
            loader.seed(rt.seed)
            if rt.device.type != "cpu" and loader.num_workers == 0:
                loader.to(rt.device)
    run_id = identity.config_hash(resolved, hashes(identity.input_files(cfg)))
    b = Built(
        cfg, source, rt, train_loader, val_loader, model, params, loss, val_loss, optimizer,
        scheduler, resolved, run_id, norms,
    )  # fmt: skip
    b.trainer = Trainer(**trainer_kwargs(b))
    b.best = BestMetric(cfg.checkpoint.metric, cfg.checkpoint.mode)
    b.stopper, b.save_strategy = build_early_stopper(cfg), cfg.checkpoint.save_strategy
    return b


def hashes(files: dict[str, str]) -> dict[str, str]:
    """Content hashes of a run's input files: a run is its config *and* its inputs."""
    return {k: file_sha256(p) for k, p in files.items()}


def fit_losses(train_loader, *losses) -> dict | None:
    """Losses that scale columns by their trivial loss (set_norms) get the train split's."""
    if not any(hasattr(f, "set_norms") for f in losses if f is not None):
        return None
    norms = column_norms.loader_norms(train_loader, list(train_loader.spec.categorical.values()))
    for f in losses:
        if hasattr(f, "set_norms"):
            f.set_norms(norms)
    return norms


def build_tracker(mlflow, on_unreachable: str | None = None):
    """An MLflowTracker for an `mlflow` section (model or dict), else a NullTracker."""
    if mlflow is None:
        return NullTracker()
    from alchemi_core.config.schema import MLflowConfig
    from alchemi_core.run.mlflow_tracker import MLflowTracker

    cfg = mlflow if isinstance(mlflow, MLflowConfig) else MLflowConfig.model_validate(mlflow)
    return MLflowTracker(cfg, on_unreachable)


def run_tracker(cfg, given=None):
    """The tracker of a run: `given`, else its config's; a NullTracker off rank 0."""
    if not distributed.is_main():
        return NullTracker()  # only rank 0 tracks
    return given if given is not None else build_tracker(cfg.mlflow)


def build_early_stopper(cfg) -> EarlyStopper | None:
    es = cfg.val.early_stopping if cfg.val else None
    if es is None:
        return None
    return EarlyStopper(BestMetric(es.metric, es.direction, es.min_delta), es.patience)


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


# -- the spectral stacks ------------------------------------------------------------------
def build_alignment(cfg, source: str, cli_seed: int | None = None):
    """An alignment run: paired data, the model (prior fitted), optimizer, scheduler, trainer."""
    from alchemi_core.alignment import pairs, recipe
    from alchemi_core.alignment.model import alignment_model
    from alchemi_core.alignment.trainer import AlignmentTrainer

    rt = runtime.resolve_runtime(cfg, cli_seed, source)
    runtime.apply(rt)
    feats = [(f.left_nm, f.right_nm) for f in cfg.banddepth.features] if cfg.banddepth else None
    data = pairs.load_pairs(cfg.data, feats)
    model = alignment_model(cfg, data.lab_tokens_wl, data.lab.wavelengths)
    model.fit_prior(data.full_values[torch.from_numpy(data.train_idx)])
    model.to(device=rt.device, dtype=rt.dtype)
    t, key = cfg.trainer, "trainer.optimizer_config"
    optimizer = builders.build_optimizer(t.optimizer_block(), model.parameters(), source, key)
    scheduler = builders.build_scheduler(t.scheduler, optimizer, source, "trainer.scheduler")
    resolved = identity.resolved_config(cfg, rt, {})
    resolved["model"].pop("params")  # the alignment model section has no free params
    run_id = identity.config_hash(resolved, hashes(recipe.input_files(cfg)))
    trainer = AlignmentTrainer(cfg, rt, data, model, optimizer, scheduler)
    best = BestMetric(t.checkpoint_metric, t.checkpoint_mode)
    return recipe.Built(cfg, source, rt, trainer, resolved, run_id, best, None, t.save_strategy)


def build_mae(cfg, source: str, cli_seed: int | None = None):
    """An MAE run: its tokens; `make` builds each masking ratio's MAE and optimizer."""
    from alchemi_core.mae import recipe
    from alchemi_core.mae.data import load_tokens

    rt = runtime.resolve_runtime(cfg, cli_seed, source)
    runtime.apply(rt)
    data = load_tokens(cfg.train, rt.seed, source)
    data.train, data.eval = (x.to(rt.device, rt.dtype) for x in (data.train, data.eval))
    resolved = redact(cfg.model_dump(mode="json", by_alias=True))
    resolved["global"] = identity.runtime_block(rt)
    run_id = identity.config_hash(resolved, hashes(recipe.input_files(cfg, source)))
    best = BestMetric("val_masked_loss", "min")
    make = partial(mae_parts, cfg, source=source)
    return recipe.Built(cfg, source, rt, data, resolved, run_id, best, make=make)


def mae_parts(cfg, rt: runtime.Runtime, source: str | None = None) -> tuple:
    """A fresh MAE on `rt`'s device, its optimizer and scheduler (train.optimizer_config)."""
    from alchemi_core.mae.model import MAE

    t = cfg.train
    model = MAE(t.token_dim, t.num_tokens, t.embed_dim, t.depth, t.heads, t.encoder_kind,
                t.decoder_dim, t.decoder_depth).to(device=rt.device, dtype=rt.dtype)  # fmt: skip
    key = "train.optimizer_config"
    optimizer = builders.build_optimizer(t.optimizer_block(), model.parameters(), source, key)
    scheduler = builders.build_scheduler(t.scheduler, optimizer, source, "train.scheduler")
    return model, optimizer, scheduler


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
