"""The public face: the CLI and the Prefect tasks call these and nothing deeper."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from alchemi_core import assembly, distributed, inference, runtime
from alchemi_core.boundary import writing_under
from alchemi_core.config.inference import ExtractConfig, PredictConfig
from alchemi_core.config.loading import apply_overrides, load_config, read_yaml, validate
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.run import runner
from alchemi_core.run.runner import RunResult
from alchemi_core.tabular import recipe as tabular

load_model = assembly.load_model
evaluate = inference.evaluate


def as_config(
    config: str | Path | dict | BaseModel,
    model: type[BaseModel],
    overrides: list[str] | None = None,
    source: str | None = None,
) -> tuple[Any, str]:
    """A validated config and the name errors should carry, from a file, dict or model."""
    if isinstance(config, model):
        return config, source or "<config>"
    if isinstance(config, dict):
        data = copy.deepcopy(config)
        apply_overrides(data, list(overrides or []), model)
        src = source or "<config>"
        return validate(data, model, src), src
    return load_config(config, overrides, model), source or str(config)


def train(
    config: str | Path | TrainingConfig,
    overrides: list[str] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    source: str | None = None,
    tracker: Any = None,
) -> RunResult:
    """Train from a config file (or a validated config); resumes or skips a matching run."""
    if isinstance(config, TrainingConfig):
        cfg, src = config, source or "<config>"
    else:
        cfg, src = load_config(config, overrides), str(config)
    distributed.init(runtime.device_name(cfg))  # under torchrun: join the ranks (else no-op)
    built = assembly.build(cfg, src, seed)
    with writing_under(cfg.experiment.output_dir, src, "experiment.output_dir"):
        return runner.execute(tabular, built, assembly.run_tracker(cfg, tracker), overwrite)


def extract(
    config: str | Path | dict | ExtractConfig,
    source: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, dict]:
    """Embeddings of each train/val/test split present: split -> {path, sha256, shape, sidecar}.

    An alignment extract config (a `tower` key) embeds a spectra file with that tower."""
    from alchemi_core.inference import alignment as align_extract

    data = read_yaml(config) if isinstance(config, str | Path) else config
    if align_extract.is_alignment(data):
        cfg, src = as_config(
            data, align_extract.AlignExtractConfig, overrides, source or str(config)
        )
        return align_extract.extract(cfg, src)
    cfg, src = as_config(config, ExtractConfig, overrides, source)
    return inference.extract(cfg, src)


def predict(
    config: str | Path | dict | PredictConfig,
    source: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Predictions for the test split: {path, sha256, rows, metrics, metrics_path, sidecar}."""
    cfg, src = as_config(config, PredictConfig, overrides, source)
    return inference.predict(cfg, src)


def pretrain_mae(
    config: str | Path | dict | BaseModel,
    overrides: list[str] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    source: str | None = None,
    tracker: Any = None,
):
    """The MAE harness (`alchemi pretrain-mae`): a RunResult whose `rows` hold one row per
    masking ratio (and `data` what it trained on)."""
    from alchemi_core.mae import recipe
    from alchemi_core.mae.config import MAEConfig

    cfg, src = as_config(config, MAEConfig, overrides, source)
    built = assembly.build_mae(cfg, src, seed)
    with writing_under(cfg.experiment.output_dir, src, "experiment.output_dir"):
        return runner.execute(recipe, built, assembly.run_tracker(cfg, tracker), overwrite)
