"""The configs of each pipeline step, built from the validated stage configs (pure functions).

The flow's extract, validate and predict tasks get plain dicts from here; `fill_sae` completes
the SAE config from the VAE's extracted embeddings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from alchemi_core.config.loading import validate
from alchemi_core.config.schema import TrainingConfig, device_name
from alchemi_core.errors import ConfigError


def dump(cfg: TrainingConfig) -> dict[str, Any]:
    """A config as a plain dict that validates back to the same config (secrets kept)."""
    data = cfg.model_dump(mode="python", by_alias=True)
    creds = (data.get("mlflow") or {}).get("credentials") or {}
    if creds.get("password") is not None:
        creds["password"] = creds["password"].get_secret_value()
    return data


def run_dir(cfg: TrainingConfig) -> Path:
    return cfg.experiment.run_dir


def checkpoint_strategy(cfg: TrainingConfig, chosen: str | None = None) -> str:
    return chosen or ("last" if cfg.checkpoint.save_strategy == "last" else "best")


def device(cfg: TrainingConfig) -> str:
    return device_name(cfg)


def inference_base(cfg: TrainingConfig, name: str) -> dict[str, Any]:
    """The keys every extract/predict config shares (checkpoint.path is set by the task)."""
    return {
        "global": {k: v for k, v in cfg.global_.model_dump().items() if v is not None},
        "imports": list(cfg.imports),
        "experiment": {"name": name, "output_dir": str(run_dir(cfg)), "device": device(cfg)},
        "checkpoint": {"path": "", "load_strategy": "best"},
        "model": {"class": cfg.model.class_},
        "data": cfg.data.model_dump(mode="json"),
    }


def eval_section(cfg: TrainingConfig, split: str, data_path: str, batch_size: int) -> dict:
    section = cfg.val if split == "val" and cfg.val else cfg.train
    return {
        "data_path": data_path,
        "loader_class": section.loader_class,
        "loader_params": {"batch_size": batch_size, "shuffle": False, "num_workers": 0},
    }


def eval_loss(cfg: TrainingConfig) -> dict[str, Any]:
    loss = cfg.val.loss if cfg.val else cfg.train.loss
    return loss.model_dump(mode="json", by_alias=True)


def validation(cfg: TrainingConfig, batch_size: int = 512) -> dict[str, Any]:
    """What the validate task needs: the split (val, else train), data and loss sections."""
    split = "val" if cfg.val else "train"
    path = cfg.val.data_path if cfg.val else cfg.train.data_path
    return {
        "split": eval_section(cfg, split, path, batch_size),
        "data": cfg.data.model_dump(mode="json"),
        "loss": eval_loss(cfg),
        "out": str(run_dir(cfg) / "eval" / f"{split}_metrics.json"),
    }


def embeddings_dir(vae: TrainingConfig) -> Path:
    return run_dir(vae) / "embeddings"


def extract_config(vae: TrainingConfig, step: Any) -> dict[str, Any]:
    cfg = inference_base(vae, f"{vae.experiment.name}-extract")
    paths = {"train": vae.train.data_path, "test": step.test_data_path}
    paths["val"] = vae.val.data_path if vae.val else None
    for split, path in paths.items():
        if path:
            cfg[split] = {
                **eval_section(vae, split, path, step.batch_size),
                "output": str(embeddings_dir(vae) / f"{split}_embeddings.npy"),
            }
    return cfg


def predict_config(cfg: TrainingConfig, step: Any, data_path: str) -> dict[str, Any]:
    out = inference_base(cfg, f"{cfg.experiment.name}-predict")
    out["test"] = {
        **eval_section(cfg, step.split, data_path, step.batch_size),
        "output": str(run_dir(cfg) / "predictions" / f"{step.split}_predictions.npy"),
        "metrics": {"compute": step.metrics, "loss": eval_loss(cfg)},
    }
    return out


def fill_sae(template: dict, embeddings: dict[str, dict], source: str = "<pipeline>") -> dict:
    """The SAE config with its data paths and input_dim taken from the extracted embeddings."""
    cfg = copy.deepcopy(template)
    for section in ("train", "val"):
        if isinstance(cfg.get(section), dict):
            cfg[section]["data_path"] = embeddings[section]["path"]
    width = int(embeddings["train"]["shape"][1])
    params = cfg.setdefault("model", {}).setdefault("params", {})
    if params.get("input_dim") is not None and params["input_dim"] != width:
        raise ConfigError(
            f"{params['input_dim']} does not match the VAE embedding width {width}",
            source,
            "sae.model.params.input_dim",
        )
    params["input_dim"] = width
    return dump(validate(cfg, TrainingConfig, source))
