"""Config sections -> objects, through the registries. Every failure is a ConfigError."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

import torch

from alchemi_core.config.schema import (
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    SchedulerConfig,
)
from alchemi_core.errors import ConfigError, UserError
from alchemi_core.hints import did_you_mean
from alchemi_core.registry import DATALOADERS, LOSSES, MODELS
from alchemi_core.tabular.batching import BatchLoader, DataSpec


def load_plugins() -> None:
    """Import every module another package declares under the `alchemi.plugins` entry point."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="alchemi.plugins"):
        ep.load()


def import_user_modules(modules: list[str], file: str | None) -> None:
    """The config's `imports` list: modules whose import registers models, losses or loaders.

    Modules are found on sys.path plus the working directory, as with `python -m`.
    """
    load_plugins()
    if modules and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for i, name in enumerate(modules):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot import {name!r}: {exc}", file, f"imports[{i}]") from None
        except SyntaxError as exc:
            where = f"{exc.filename}, line {exc.lineno}"
            raise ConfigError(
                f"{name!r} has a syntax error ({where})", file, f"imports[{i}]"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the module failed while importing
            what = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            raise ConfigError(
                f"importing {name!r} failed ({what})", file, f"imports[{i}]"
            ) from None


def accepted_kwargs(fn: Any) -> tuple[set[str], bool]:
    """Parameter names of a callable (class -> __init__) and whether it takes **kwargs."""
    sig = inspect.signature(fn)
    names = {
        n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    return names - {"self"}, var_kw


def check_kwargs(fn: Any, kwargs: dict, file: str | None, key: str, reserved=()) -> None:
    names, var_kw = accepted_kwargs(fn)
    if var_kw:
        return
    options = sorted(names - set(reserved))
    for k in kwargs:
        if k not in names or k in reserved:
            extra = did_you_mean(k, options)
            raise ConfigError(
                f"unknown parameter{extra}; accepted: {', '.join(options)}", file, f"{key}.{k}"
            )


def construct(cls: Any, kwargs: dict, file: str | None, key: str) -> Any:
    try:
        return cls(**kwargs)
    except UserError as exc:
        if exc.file is None:
            exc.file = file
            exc.args = (exc.line(),)
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{exc}", file, key) from None


def build_loader(section, data: DataConfig, file: str | None, key: str) -> BatchLoader:
    cls = DATALOADERS.get(section.loader_class, file, f"{key}.loader_class")
    params = section.loader_params.model_dump()
    check_kwargs(cls, params, file, f"{key}.loader_params", reserved=("data_path", "data"))
    return construct(
        cls, {"data_path": section.data_path, "data": data, **params}, file, f"{key}.loader_params"
    )


def resolve_model_params(model_cfg: ModelConfig, spec: DataSpec, file: str | None) -> dict:
    """The model's params with `input_dim` inferred from the data when the model takes it."""
    cls = MODELS.get(model_cfg.class_, file, "model.class")
    params = dict(model_cfg.params)
    check_kwargs(cls, params, file, "model.params", reserved=("data_spec",))
    names, _ = accepted_kwargs(cls)
    if "input_dim" in names and "data_spec" not in names:
        width = len(spec.numerical) + spec.embedding_dim
        if params.get("input_dim") is None:
            params["input_dim"] = width
        elif params["input_dim"] != width:
            raise ConfigError(
                f"{params['input_dim']} does not match the data's width {width}",
                file,
                "model.params.input_dim",
            )
    return params


def build_model(model_cfg: ModelConfig, spec: DataSpec, file: str | None) -> tuple[Any, dict]:
    cls = MODELS.get(model_cfg.class_, file, "model.class")
    params = resolve_model_params(model_cfg, spec, file)
    model = instantiate_model(cls, params, spec, file)
    if params.get("input_dim") is None and isinstance(getattr(model, "input_dim", None), int):
        params["input_dim"] = model.input_dim  # inferred by the model itself (e.g. the VAE)
    return model, params


def instantiate_model(cls: Any, params: dict, spec: DataSpec, file: str | None) -> Any:
    names, _ = accepted_kwargs(cls)
    kwargs = {**params, "data_spec": spec} if "data_spec" in names else dict(params)
    return construct(cls, kwargs, file, "model.params")


def build_loss(loss_cfg: LossConfig, file: str | None, key: str):
    cls = LOSSES.get(loss_cfg.class_, file, f"{key}.class")
    check_kwargs(cls, loss_cfg.params, file, f"{key}.params")
    return construct(cls, dict(loss_cfg.params), file, f"{key}.params")


def check_loss_fits(model_class: str, loss, file: str | None, key: str) -> None:
    """The loss reads only outputs the model gives (when both declare them), else a ConfigError
    at `key` ("train.loss"): SAELoss on a VAE fails at load, not with a KeyError mid-epoch."""
    gives = getattr(MODELS.get(model_class, file, "model.class"), "output_keys", None)
    reads = getattr(loss, "reads", ())
    missing = [k for k in reads if gives is not None and k not in gives]
    if missing:
        raise ConfigError(
            f"{type(loss).__name__} reads the model output {missing[0]!r}, which "
            f"{model_class} does not give (it gives {', '.join(gives)})",
            file,
            f"{key}.class",
        )


def _torch_class(module: Any, name: str, base: type, file: str | None, key: str) -> Any:
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        known = sorted(
            n
            for n, c in vars(module).items()
            if isinstance(c, type) and issubclass(c, base) and c is not base
        )
        extra = did_you_mean(name, known)
        raise ConfigError(f"unknown {module.__name__} class {name!r}{extra}", file, key)
    return cls


def optimizer_class(cfg: OptimizerConfig, file: str | None, key: str) -> tuple[type, dict]:
    """The torch.optim class the block names and its further keywords (checked by name)."""
    cls = _torch_class(torch.optim, cfg.optimizer, torch.optim.Optimizer, file, f"{key}.optimizer")
    extra = dict(cfg.model_extra or {})
    check_kwargs(cls, extra, file, key, reserved=("params", "lr"))
    return cls, extra


EMPTY = "optimizer got an empty parameter list"


def check_optimizer(cfg: OptimizerConfig, file: str | None, key: str) -> torch.optim.Optimizer:
    """The block's optimizer checked without building one, and a stand-in over no parameters
    with its defaults, for a scheduler's check. A torch optimizer checks its arguments before
    `Optimizer.__init__`, which refuses an empty parameter list before it adds a group (the
    first add imports torch._dynamo: seconds)."""
    cls, extra = optimizer_class(cfg, file, key)
    try:
        construct(cls, {"params": [], "lr": cfg.learning_rate, **extra}, file, key)
    except ConfigError as exc:
        if exc.message != EMPTY:
            raise
    sig = inspect.signature(cls).parameters.values()
    group = {p.name: p.default for p in sig if p.default is not p.empty and p.name != "params"}
    return NoParams({**group, **extra, "lr": cfg.learning_rate})


class NoParams(torch.optim.Optimizer):
    """An optimizer over no parameters whose one group holds `defaults`: what a scheduler reads."""

    def __init__(self, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups = [{**defaults, "params": []}]
        for when in ("step", "state_dict", "load_state_dict"):  # as Optimizer.__init__ sets
            setattr(self, f"_optimizer_{when}_pre_hooks", {})
            setattr(self, f"_optimizer_{when}_post_hooks", {})

    def step(self, closure=None):
        return None


def build_optimizer(
    cfg: OptimizerConfig, params, file: str | None, key: str = "train.optimizer_config"
) -> torch.optim.Optimizer:
    cls, extra = optimizer_class(cfg, file, key)
    params = list(params)
    if fused_by_default(cls, extra, params):
        try:
            return cls(params, lr=cfg.learning_rate, fused=True, **extra)
        except (RuntimeError, TypeError, ValueError):
            pass  # this device/dtype has no fused kernel: torch's default path below
    return construct(cls, {"params": params, "lr": cfg.learning_rate, **extra}, file, key)


def fused_by_default(cls: type, extra: dict, params: list) -> bool:
    """Use torch's fused kernel (one op per step, not several per parameter: ~1 ms a batch on
    a small CPU model) when the optimizer has one and the config chose neither `fused` nor
    `foreach`. `fused: false` in optimizer_config keeps torch's default path."""
    if "fused" in extra or "foreach" in extra or cls not in FUSED:
        return False
    tensors = [p for p in params if isinstance(p, torch.Tensor)]
    return len(tensors) == len(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in tensors
    )


FUSED = {torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad}


def build_scheduler(
    cfg: SchedulerConfig | None, optimizer, file: str | None, key: str = "train.scheduler"
):
    if cfg is None:
        return None
    sched = torch.optim.lr_scheduler
    cls = _torch_class(sched, cfg.name, sched.LRScheduler, file, f"{key}.name")
    extra = dict(cfg.model_extra or {})
    check_kwargs(cls, extra, file, key, reserved=("optimizer",))
    return construct(cls, {"optimizer": optimizer, **extra}, file, key)


def check_metric_names(cfg, train_loss, val_loss, file: str | None) -> None:
    """checkpoint.metric and early_stopping.metric must be metrics this run logs."""
    logged = {"lr", "epoch", "train_loss"}
    logged |= {f"train_{n}" for n in getattr(train_loss, "metric_names", ())}
    if val_loss is not None:
        logged |= {"val_loss"} | {f"val_{n}" for n in getattr(val_loss, "metric_names", ())}
    checks = [("checkpoint.metric", cfg.checkpoint.metric)]
    if cfg.val and cfg.val.early_stopping:
        checks.append(("val.early_stopping.metric", cfg.val.early_stopping.metric))
    for key, name in checks:
        loss = val_loss if name.startswith("val_") else train_loss
        if not getattr(loss, "metric_names", None) and name.startswith(("train_", "val_")):
            continue  # a custom loss that does not declare its components
        if name not in logged:
            extra = did_you_mean(name, sorted(logged))
            raise ConfigError(
                f"{name!r} is not a metric this run logs{extra}; logged: "
                f"{', '.join(sorted(logged))}",
                file,
                key,
            )
