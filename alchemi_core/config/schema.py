"""Pydantic models for a training config. Unknown keys are refused everywhere."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)

from alchemi_core.secrets import has_credentials

DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MAX_NAME = 200  # file systems hold 255 bytes a name; room for suffixes (trial names)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")
# A seed every RNG takes (torch's manual_seed overflows past 2**64; headroom for seed + i).
MAX_SEED = 2**63 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Dtype = Literal["float32", "float64", "bf16", "bfloat16", "fp16", "float16"]


class Strict(BaseModel):
    """Unknown keys and non-finite numbers are refused (a field may allow inf/nan with
    `Field(allow_inf_nan=True)`; loading.check_finite honours that too)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


def check_device(value: str | None) -> str | None:
    if value is not None and not DEVICE_RE.match(value):
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda or cuda:N")
    return value


class GlobalConfig(Strict):
    """Runtime settings shared by every stack. Unset fields fall back (see runtime.py)."""

    seed: Seed | None = None  # seed of every generator (Python, NumPy, torch, shuffling)
    device: str | None = None  # auto (CUDA when present, else CPU), cpu, cuda, cuda:N, mps
    dtype: Dtype | None = None  # parameters' and data's float type; unset: float32
    amp_dtype: Dtype | None = None  # autocast forward passes to this type; unset: no autocast
    deterministic: bool | None = None  # torch's deterministic algorithms (bit-identical reruns)
    threads: PositiveInt | None = None  # CPU threads for torch; None keeps torch's default

    _device = field_validator("device")(check_device)


class Experiment(Strict):
    name: str  # the run's folder under output_dir (letters, digits, _ . = + -)
    output_dir: str  # where run folders go
    seed: Seed | None = None  # older spelling of global.seed, used when that is unset
    device: str | None = None  # older spelling of global.device, used when that is unset

    @property
    def run_dir(self) -> Path:
        """The run's folder, {output_dir}/{name}: every stack, task and flow asks this."""
        return Path(self.output_dir) / self.name

    _device = field_validator("device")(check_device)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not NAME_RE.match(v) or ".." in v:
            raise ValueError(
                f"{v!r} is not a safe folder name (letters, digits, _ . = + -; no '/' or '..')"
            )
        if len(v) > MAX_NAME:
            raise ValueError(f"{len(v)} characters: a folder name holds at most {MAX_NAME}")
        return v


class ModelConfig(Strict):
    class_: str = Field(alias="class")  # a registered model: VAE, SAE, or yours
    params: dict[str, Any] = Field(default_factory=dict)  # checked by its params model


class Columns(Strict):
    numerical: list[str] = Field(default_factory=list)  # float columns
    categorical: list[str] = Field(default_factory=list)  # columns coded by cardinalities_path
    embeddings: list[str] = Field(default_factory=list)  # float vectors (.npy or list columns)

    @model_validator(mode="after")
    def _non_empty_and_unique(self) -> Columns:
        names = self.numerical + self.categorical + self.embeddings
        if not names:
            raise ValueError("at least one of numerical, categorical, embeddings must be non-empty")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns listed twice: {', '.join(dupes)}")
        return self


class DataConfig(Strict):
    """Which columns the model reads, and how categories are coded."""

    columns: Columns  # at least one list non-empty, no name twice
    cardinalities_path: str | None = None  # JSON {column: {value: index}}; needed by categoricals

    @model_validator(mode="after")
    def _cardinalities(self) -> DataConfig:
        if self.columns.categorical and not self.cardinalities_path:
            raise ValueError("categorical columns need data.cardinalities_path")
        return self


class LoaderParams(BaseModel):
    """Common loader keys; a loader may take more (checked against its signature)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    batch_size: PositiveInt  # rows per batch
    shuffle: bool  # reshuffle every epoch (seeded)
    num_workers: NonNegativeInt = 0  # 0: batches built in the main process
    num_batches_per_epoch: PositiveInt | None = None  # cut epochs short


class LossConfig(Strict):
    class_: str = Field(alias="class")  # a registered loss: VAELoss, SAELoss, or yours
    params: dict[str, Any] = Field(default_factory=dict)  # checked by its params model


def finite_extras(model: BaseModel) -> BaseModel:
    """The free keys of an optimizer or scheduler block hold no NaN or infinite number."""
    for k, v in (model.model_extra or {}).items():
        for x in v if isinstance(v, list | tuple) else [v]:
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError(f"{k}: {x} is not a finite number")
    return model


class OptimizerConfig(BaseModel):
    """`optimizer` names a torch.optim class; other keys go to its constructor."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    optimizer: str  # a torch.optim class name: Adam, AdamW, SGD...
    learning_rate: PositiveFloat  # the optimizer's lr (its start, with a scheduler)

    _finite = model_validator(mode="after")(finite_extras)


def default_optimizer(section) -> OptimizerConfig:
    """AdamW with a section's legacy `learning_rate` and `weight_decay` keys."""
    return OptimizerConfig(
        optimizer="AdamW", learning_rate=section.learning_rate, weight_decay=section.weight_decay
    )


def check_one_optimizer(section, key: str) -> None:
    """`optimizer_config` replaces the legacy learning_rate/weight_decay keys: not both."""
    legacy = {"learning_rate", "weight_decay"} & section.model_fields_set
    if section.optimizer_config is not None and legacy:
        raise ValueError(
            f"{key}.{sorted(legacy)[0]}: set it in {key}.optimizer_config (give one of the two)"
        )


class SchedulerConfig(BaseModel):
    """Optional: `name` of a torch.optim.lr_scheduler class; other keys go to it. Stepped per epoch."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    name: str  # e.g. ReduceLROnPlateau (watches val_loss, else train_loss)

    _finite = model_validator(mode="after")(finite_extras)


class TrainSection(Strict):
    """The training data, loader, epochs, optimizer, loss and schedule."""

    data_path: str  # the training file: .csv, .parquet, or .npy for embeddings
    loader_class: str  # TabularDataLoader, EmbeddingDataLoader, or a registered loader
    loader_params: LoaderParams
    epochs: PositiveInt  # passes over the data
    optimizer_config: OptimizerConfig
    loss: LossConfig  # the training loss: a registered class and its params
    scheduler: SchedulerConfig | None = None
    grad_clip_norm: PositiveFloat | None = None  # clip the gradients' global norm to this
    seed: Seed | None = None  # legacy; see runtime.resolve_seed


class EarlyStopping(Strict):
    patience: PositiveInt  # validations without improvement before stopping
    metric: str  # a logged metric, e.g. val_loss
    direction: Literal["min", "max"]  # min: lower metric is better; max: higher
    min_delta: float = Field(default=0.0, ge=0)  # the smallest change that counts


class ValSection(Strict):
    """The validation data, loader, loss and how often to validate."""

    data_path: str  # the validation file
    loader_class: str  # as train.loader_class, for the validation file
    loader_params: LoaderParams
    frequency: PositiveInt  # validate every N epochs (at most train.epochs)
    loss: LossConfig  # the validation loss (val_loss and its terms)
    early_stopping: EarlyStopping | None = None  # stop when a metric stops improving


class CheckpointConfig(Strict):
    metric: str  # what "best" means: a metric the run logs
    mode: Literal["min", "max"]  # min: lower metric is better; max: higher
    save_strategy: Literal["best", "last", "all"]  # all: also epoch_N.pt every epoch


class Credentials(Strict):
    username: str | None = None  # or MLFLOW_TRACKING_USERNAME
    password: SecretStr | None = None  # or MLFLOW_TRACKING_PASSWORD; never logged


# Tracking URI schemes MLflow has stores for (a plain path or one-letter drive is a file path);
# `+driver` is allowed on the database ones. Plugins add theirs (entry point mlflow.tracking_store).
TRACKING_SCHEMES = {"", "file", "sqlite", "http", "https", "databricks", "databricks-uc", "uc"}
DB_SCHEMES = {"sqlite", "postgresql", "mysql", "mssql"}


def tracking_scheme_ok(uri: str) -> bool:
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) <= 1 or scheme in TRACKING_SCHEMES or scheme.split("+")[0] in DB_SCHEMES:
        return True
    from importlib.metadata import entry_points

    return scheme in {ep.name for ep in entry_points(group="mlflow.tracking_store")}


class MLflowConfig(Strict):
    """Where and under which experiment the run is tracked."""

    tracking_uri: str  # sqlite:///mlflow.db, a path, or http(s)://host:port; no credentials
    experiment_name: str  # created when missing
    credentials: Credentials | None = None  # for a server that asks for a login
    run_name: str | None = None  # default: experiment.name
    # What to do when the server cannot be reached at start: fail, or train without tracking.
    on_unreachable: Literal["fail", "skip"] = "fail"
    # Register the run's logged model under this name, and point this alias at the new version.
    register_model_name: str | None = None
    register_alias: str | None = None  # needs register_model_name; e.g. champion

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials_in_uri(cls, v: str) -> str:
        if has_credentials(v):
            raise ValueError(
                "credentials in the URI would leak into logs; use mlflow.credentials or "
                "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"
            )
        if not tracking_scheme_ok(v):
            raise ValueError(
                f"unsupported tracking URI scheme {urlsplit(v).scheme!r}; use a path, file:, "
                "sqlite:, http(s):, databricks or postgresql/mysql/mssql(+driver):"
            )
        return v


class TrainingConfig(Strict):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    imports: list[str] = Field(default_factory=list)  # modules that register your classes
    experiment: Experiment  # the run's name and folder
    model: ModelConfig  # the model: a registered class and its params
    data: DataConfig
    train: TrainSection
    val: ValSection | None = None
    checkpoint: CheckpointConfig  # which checkpoints to keep, and what best means
    mlflow: MLflowConfig | None = None  # without it nothing is tracked

    @model_validator(mode="after")
    def _cross_fields(self) -> TrainingConfig:
        metrics = [("checkpoint.metric", self.checkpoint.metric)]
        if self.val and self.val.early_stopping:
            metrics.append(("val.early_stopping.metric", self.val.early_stopping.metric))
        for key, name in metrics:
            if name.startswith("val_") and self.val is None:
                raise ValueError(f"{key}: {name!r} needs a val section (no validation runs)")
            if name not in ("lr", "epoch") and not name.startswith(("train_", "val_")):
                raise ValueError(f"{key}: {name!r} is not a logged metric (train_*, val_*, lr)")
        if self.val and self.val.frequency > self.train.epochs:
            raise ValueError(
                f"val.frequency: {self.val.frequency} is more than train.epochs "
                f"({self.train.epochs}), so validation would never run"
            )
        return self


def device_name(cfg) -> str:
    """The device a config asks for: global.device, else experiment.device, else "auto".
    (Torch-free: cache keys and step configs use it without loading torch.)"""
    return cfg.global_.device or getattr(cfg.experiment, "device", None) or "auto"
