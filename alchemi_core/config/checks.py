"""Deep checks of a loaded config, before any data is read: registered classes and their params.

Each registered class's params are validated against its params model (registry.Params); a
class without one against its constructor's signature. The optimizer and scheduler are built
on a one-element dummy parameter, so their values are checked too. Errors name the file and
the key path (`model.params.hidden_dims.0`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alchemi_core.config.loading import validate
from alchemi_core.config.pipeline import EMBEDDINGS_PENDING
from alchemi_core.errors import ConfigError
from alchemi_core.registry import DATALOADERS, LOSSES, MODELS, Registry

LOADER_RESERVED = ("data_path", "data")
log = logging.getLogger("alchemi")
_warned: set[str] = set()  # one warning per file and key in a process


def check_params(
    registry: Registry,
    name: str,
    params: dict[str, Any],
    file: str | None,
    key: str,
    class_key: str,
    reserved: tuple[str, ...] = (),
) -> None:
    """`params` (at config key `key`) against the params model of `registry[name]`."""
    entry = registry.entry(name, file, class_key)
    if entry.params is None:
        from alchemi_core.builders import check_kwargs

        check_kwargs(entry.cls, params, file, key, reserved=reserved)
        return
    try:
        validate(params, entry.params, file or "<config>")
    except ConfigError as exc:
        msg = exc.message
        if msg.startswith("unknown key"):
            accepted = ", ".join(f.alias or n for n, f in entry.params.model_fields.items())
            msg = f"unknown parameter{msg.removeprefix('unknown key')}; accepted: {accepted}"
        raise ConfigError(msg, file, f"{key}.{exc.key}" if exc.key else key) from None


def check_loader_reads(loader_class: str, data_path: str, file: str | None, key: str) -> None:
    """The loader of a section reads files of its data_path's type (a pipeline's SAE stage
    reads the VAE's embeddings, a .npy). `key` is the section's (train, val, test)."""
    pending = data_path == EMBEDDINGS_PENDING
    suffix = ".npy" if pending else Path(data_path).suffix.lower()
    allowed = getattr(DATALOADERS.get(loader_class, file, f"{key}.loader_class"), "suffixes", None)
    if allowed and suffix not in allowed:
        what = (
            "the VAE's embeddings (.npy)" if pending else f"{data_path} ({suffix or 'no suffix'})"
        )
        raise ConfigError(
            f"{loader_class} reads {' or '.join(allowed)} files, not {what}",
            file,
            f"{key}.loader_class",
        )


def _loader(section: Any, file: str | None, key: str) -> None:
    check_loader_reads(section.loader_class, section.data_path, file, key)
    params = section.loader_params.model_dump(exclude_unset=True)
    check_params(
        DATALOADERS,
        section.loader_class,
        params,
        file,
        f"{key}.loader_params",
        f"{key}.loader_class",
        LOADER_RESERVED,
    )


def _loss(loss_cfg: Any, file: str | None, key: str) -> None:
    check_params(
        LOSSES, loss_cfg.class_, dict(loss_cfg.params), file, f"{key}.params", f"{key}.class"
    )


def check_training(cfg: Any, file: str | None, build: bool = True) -> None:
    """A TrainingConfig: imports, model/loss/loader params, optimizer, scheduler, metric names.
    `build=False` (assembly, which then builds them for real) skips building the losses; the
    optimizer is still tried on a dummy parameter, before any data is read."""
    from alchemi_core import builders, runtime

    builders.import_user_modules(cfg.imports, file)
    runtime.resolve_runtime(cfg, None, file)  # device present, autocast dtype usable here
    check_params(
        MODELS,
        cfg.model.class_,
        dict(cfg.model.params),
        file,
        "model.params",
        "model.class",
        ("data_spec",),
    )
    sections = [("train", cfg.train)] + ([("val", cfg.val)] if cfg.val else [])
    for key, section in sections:
        _loader(section, file, key)
        _loss(section.loss, file, f"{key}.loss")
    # before any data is read: a bad optimizer is a config error first
    check_optimizer(cfg.train.optimizer_config, cfg.train.scheduler, file, "train")
    if not build:
        return
    train_loss = builders.build_loss(cfg.train.loss, file, "train.loss")
    val_loss = builders.build_loss(cfg.val.loss, file, "val.loss") if cfg.val else None
    check_losses(cfg, train_loss, val_loss, file)


def check_losses(cfg: Any, train_loss: Any, val_loss: Any, file: str | None) -> None:
    """The built losses against the model and the metric names (assembly calls this on the
    losses it builds; check_training on its own)."""
    from alchemi_core import builders

    for key, loss in (("train.loss", train_loss), ("val.loss", val_loss)):
        if loss is not None:
            builders.check_loss_fits(cfg.model.class_, loss, file, key)
    builders.check_metric_names(cfg, train_loss, val_loss, file)
    warn_unreached_warmup(cfg, file)


def warn_unreached_warmup(cfg: Any, file: str | None) -> None:
    """A KL warm-up longer than the run: the KL weight never reaches beta (allowed, but
    rarely meant)."""
    warmup = cfg.train.loss.params.get("kl_warmup_epochs")
    epochs = cfg.train.epochs
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < epochs:
        return
    line = (
        f"{file or '<config>'}: train.loss.params.kl_warmup_epochs: {warmup} is not less than "
        f"train.epochs ({epochs}): the KL weight never reaches beta"
    )
    if line not in _warned:
        _warned.add(line)
        log.warning("%s", line)


def check_optimizer(block: Any, scheduler: Any, file: str | None, section: str) -> None:
    """An optimizer block (and scheduler) of any stack, checked without building the optimizer
    (builders.check_optimizer); the scheduler is built on its stand-in."""
    from alchemi_core import builders

    stand_in = builders.check_optimizer(block, file, f"{section}.optimizer_config")
    builders.build_scheduler(scheduler, stand_in, file, f"{section}.scheduler")


def check_inference(cfg: Any, file: str | None) -> None:
    """An ExtractConfig or PredictConfig: imports, model class, loaders, the metrics loss."""
    from alchemi_core import builders

    builders.import_user_modules(cfg.imports, file)
    MODELS.entry(cfg.model.class_, file, "model.class")
    for split in ("train", "val", "test"):
        section = getattr(cfg, split, None)
        if section is None:
            continue
        _loader(section, file, split)
        metrics = getattr(section, "metrics", None)
        if metrics is not None and metrics.loss is not None:
            _loss(metrics.loss, file, f"{split}.metrics.loss")
