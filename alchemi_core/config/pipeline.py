"""The pipeline (VAE -> SAE) schema and loader, with every cross-stage check at load.

A pipeline names a VAE and an SAE training config (a path relative to the pipeline file, or the
config inline). The SAE config may leave out `train.data_path`, `val.data_path` and
`model.params.input_dim`: the flow fills them from the VAE's extracted embeddings (data paths
given there, as in a standalone SAE config, are replaced).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from alchemi_core.config.loading import apply_overrides, read_yaml, validate
from alchemi_core.config.schema import Strict, TrainingConfig
from alchemi_core.config.steps import dump
from alchemi_core.errors import ConfigError

STAGES = ("vae", "sae")
EMBEDDINGS_PENDING = "<embeddings from the VAE stage>"


class ExtractStep(Strict):
    """The flow's extraction step (VAE embeddings for the SAE)."""

    batch_size: PositiveInt = 512  # rows per batch while embedding
    test_data_path: str | None = None  # also embed a test split (same columns as the VAE data)


class PredictStep(Strict):
    """The flow's prediction step."""

    model: Literal["vae", "sae"] = "sae"  # which stage's model predicts
    split: Literal["train", "val", "test"] = "test"  # test needs extract.test_data_path
    batch_size: PositiveInt = 512  # rows per batch while predicting
    metrics: bool = True  # also write the prediction metrics


class PipelineConfig(Strict):
    """The VAE -> SAE flow."""

    vae: str | dict[str, Any]  # a training config (see training), inline or a relative path
    # The SAE's training config; its data_paths and input_dim may be left out (filled by the flow)
    sae: str | dict[str, Any]
    extract: ExtractStep = Field(default_factory=ExtractStep)
    predict: PredictStep | None = None
    # Which VAE checkpoint feeds the SAE; default: best, or last when the VAE saves only last.
    checkpoint: str | None = Field(default=None, pattern=r"^(best|last|epoch_[1-9]\d*)$")

    @model_validator(mode="after")
    def _predict_split(self) -> PipelineConfig:
        if self.predict and self.predict.split == "test" and not self.extract.test_data_path:
            raise ValueError(
                "predict.split: 'test' needs extract.test_data_path (or predict on train/val)"
            )
        return self


@dataclass
class Pipeline:
    """A loaded pipeline: the validated VAE config and the SAE template (data paths pending)."""

    source: str
    spec: PipelineConfig
    vae: TrainingConfig
    sae: dict[str, Any]  # raw SAE config; fill_sae() completes it
    vae_source: str
    sae_source: str

    def vae_dict(self) -> dict[str, Any]:
        return dump(self.vae)


def _stage_data(value: str | dict, base: Path, source: str, stage: str) -> tuple[dict, str]:
    if isinstance(value, dict):
        return copy.deepcopy(value), source
    path = (base / value) if not Path(value).is_absolute() else Path(value)
    try:
        return read_yaml(path), str(path)
    except ConfigError as exc:
        if exc.message == "config file not found":
            raise ConfigError(f"config file not found: {path}", source, stage) from None
        raise


def _validate_stage(data: dict, stage_source: str, pipeline_source: str, stage: str):
    try:
        return validate(data, TrainingConfig, stage_source)
    except ConfigError as exc:
        if stage_source == pipeline_source and exc.key:  # inline: name the key from the top
            raise ConfigError(exc.message, pipeline_source, f"{stage}.{exc.key}") from None
        raise


def sae_placeholders(data: dict) -> dict:
    """Fill the keys the flow provides, so the rest of the SAE config validates now."""
    filled = copy.deepcopy(data)
    for section in ("train", "val"):
        if isinstance(filled.get(section), dict):
            filled[section]["data_path"] = EMBEDDINGS_PENDING  # the flow replaces any given
    return filled


def _overrides(overrides: dict[str, Any], stage: str) -> list[str]:
    prefix = f"{stage}."
    return [
        f"{k[len(prefix) :]}={json.dumps(v)}" for k, v in overrides.items() if k.startswith(prefix)
    ]


def load_pipeline(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    source: str | None = None,
    data: dict | None = None,
) -> Pipeline:
    """Read and validate a pipeline file; `overrides` maps "vae.x.y"/"sae.x.y" keys to values.

    `data` is the file's mapping when the caller already read (and overrode) it.
    """
    path = Path(path)
    src = str(path)
    spec = validate(read_yaml(path) if data is None else data, PipelineConfig, src)
    overrides = dict(overrides or {})
    stages: dict[str, tuple[dict, str]] = {}
    for stage in STAGES:
        stage_data, stage_src = _stage_data(getattr(spec, stage), path.parent, src, stage)
        try:
            apply_overrides(stage_data, _overrides(overrides, stage), TrainingConfig)
        except ConfigError as exc:
            where = source or exc.file
            raise ConfigError(
                exc.message, where, f"{stage}.{exc.key}" if exc.key else None
            ) from None
        stages[stage] = (stage_data, stage_src)
    vae = _validate_stage(stages["vae"][0], stages["vae"][1], src, "vae")
    sae_data, sae_src = stages["sae"]
    _validate_stage(sae_placeholders(sae_data), sae_src, src, "sae")
    _cross_stage(spec, vae, sae_data, src)
    return Pipeline(src, spec, vae, sae_data, stages["vae"][1], sae_src)


def _cross_stage(spec: PipelineConfig, vae: TrainingConfig, sae: dict, src: str) -> None:
    """What one stage needs from the other: val embeddings need a VAE val section."""
    if vae.val is None and isinstance(sae.get("val"), dict):
        raise ConfigError(
            "the SAE validates on val embeddings, but the VAE config has no val section",
            src,
            "sae.val",
        )
    if spec.predict and spec.predict.split == "val" and vae.val is None:
        raise ConfigError(
            "'val' does not exist: the VAE config has no val section", src, "predict.split"
        )
    saved = {"best": ("best", "all"), "last": ("last", "all")}
    chosen, strategy = spec.checkpoint, vae.checkpoint.save_strategy
    if chosen and strategy not in saved.get(chosen, ("all",)):
        raise ConfigError(
            f"{chosen!r} is not saved: the VAE's checkpoint.save_strategy is {strategy!r}",
            src,
            "checkpoint",
        )
    if chosen and chosen.startswith("epoch_") and int(chosen[6:]) > vae.train.epochs:
        raise ConfigError(
            f"{chosen!r} is past the VAE's last epoch ({vae.train.epochs})", src, "checkpoint"
        )
