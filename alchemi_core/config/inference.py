"""Pydantic models for the reference's "Special Configurations": extraction and prediction.

Like a training config, unknown keys are refused everywhere; load them with
`load_config(path, overrides, model=ExtractConfig)` (or PredictConfig).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from alchemi_core.config.schema import (
    DataConfig,
    Experiment,
    GlobalConfig,
    LoaderParams,
    LossConfig,
    Strict,
)

STRATEGY_RE = re.compile(r"^(best|last|epoch_[1-9]\d*)$")


class CheckpointRef(Strict):
    """A checkpoint file, or a run's checkpoints/ folder (or run folder) plus a strategy."""

    path: str  # a checkpoint file, or a run's checkpoints/ folder
    load_strategy: str = "best"  # best, last or epoch_N

    @field_validator("load_strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        if not STRATEGY_RE.match(v):
            raise ValueError(f"{v!r}: use best, last or epoch_N (N >= 1)")
        return v


class ModelRef(Strict):
    """Only the class: the params come from the checkpoint."""

    class_: str = Field(alias="class")  # must match the checkpoint's model class


class InputSection(Strict):
    """Which rows to run through the model (a train/val/test section without training keys)."""

    data_path: str  # .csv, .parquet or .npy, with the training data's columns
    loader_class: str  # TabularDataLoader, EmbeddingDataLoader, or a registered loader
    loader_params: LoaderParams


def _suffix(value: str, allowed: tuple[str, ...]) -> str:
    if not value.lower().endswith(allowed):
        raise ValueError(f"must end in {' or '.join(allowed)}")
    return value


class ExtractSplit(InputSection):
    """A split to embed, and the .npy it goes to."""

    output: str  # the .npy the embeddings go to

    _npy = field_validator("output")(lambda v: _suffix(v, (".npy",)))


class MetricsConfig(Strict):
    """Whether to compute the loss and its components over the split."""

    compute: bool = False  # also write <output>.metrics.json
    loss: LossConfig | None = None  # None: the checkpoint's validation (else training) loss


class PredictSplit(InputSection):
    """The split to predict, its output and metrics."""

    output: str  # .npy (one float32 table) or .parquet (named columns)
    metrics: MetricsConfig | None = None

    _out = field_validator("output")(lambda v: _suffix(v, (".npy", ".parquet")))


class _InferenceBase(Strict):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    imports: list[str] = Field(default_factory=list)  # modules that register your classes
    experiment: Experiment  # seed is accepted; inference uses none
    checkpoint: CheckpointRef
    model: ModelRef
    data: DataConfig


class ExtractConfig(_InferenceBase):
    train: ExtractSplit | None = None
    val: ExtractSplit | None = None
    test: ExtractSplit | None = None

    @model_validator(mode="after")
    def _some_split(self) -> ExtractConfig:
        present = self.splits()
        if not present:
            raise ValueError("give at least one of train, val, test")
        outputs = [s.output for s in present.values()]
        if len(set(outputs)) != len(outputs):
            raise ValueError("two splits write the same output file")
        return self

    def splits(self) -> dict[str, ExtractSplit]:
        found = {"train": self.train, "val": self.val, "test": self.test}
        return {k: v for k, v in found.items() if v is not None}


class PredictConfig(_InferenceBase):
    test: PredictSplit
