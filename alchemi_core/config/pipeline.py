"""Pipeline (VAE -> SAE) and sweep configs: validated like every other config.

A pipeline names a VAE and an SAE training config (a path relative to the pipeline file, or the
config inline). The SAE config may leave out `train.data_path`, `val.data_path` and
`model.params.input_dim`: the flow fills them from the VAE's extracted embeddings (data paths
given there, as in a standalone SAE config, are replaced).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from alchemi_core import runtime
from alchemi_core.config.loading import apply_overrides, read_yaml, validate
from alchemi_core.config.schema import Strict, TrainingConfig
from alchemi_core.errors import ConfigError
from alchemi_core.io import canonical_json, text_sha256

STAGES = ("vae", "sae")
EMBEDDINGS_PENDING = "<embeddings from the VAE stage>"


class ExtractStep(Strict):
    batch_size: PositiveInt = 512
    test_data_path: str | None = None  # also embed a test split (same columns as the VAE data)


class PredictStep(Strict):
    model: Literal["vae", "sae"] = "sae"
    split: Literal["train", "val", "test"] = "test"
    batch_size: PositiveInt = 512
    metrics: bool = True


class PipelineConfig(Strict):
    vae: str | dict[str, Any]
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


def dump(cfg: TrainingConfig) -> dict[str, Any]:
    """A config as a plain dict that validates back to the same config (secrets kept)."""
    data = cfg.model_dump(mode="python", by_alias=True)
    creds = (data.get("mlflow") or {}).get("credentials") or {}
    if creds.get("password") is not None:
        creds["password"] = creds["password"].get_secret_value()
    return data


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


def _sae_placeholders(data: dict) -> dict:
    """Fill the keys the flow provides, so the rest of the SAE config validates now."""
    filled = copy.deepcopy(data)
    for section in ("train", "val"):
        if isinstance(filled.get(section), dict):
            filled[section].setdefault("data_path", EMBEDDINGS_PENDING)
    return filled


# -- the configs of each step (pure functions of the validated configs) ------------------------


def run_dir(cfg: TrainingConfig) -> Path:
    return Path(cfg.experiment.output_dir) / cfg.experiment.name


def checkpoint_strategy(cfg: TrainingConfig, chosen: str | None = None) -> str:
    return chosen or ("last" if cfg.checkpoint.save_strategy == "last" else "best")


def device(cfg: TrainingConfig) -> str:
    return runtime.device_name(cfg)


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


def extract_config(vae: TrainingConfig, step: ExtractStep) -> dict[str, Any]:
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


def predict_config(cfg: TrainingConfig, step: PredictStep, data_path: str) -> dict[str, Any]:
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


def _overrides(overrides: dict[str, Any], stage: str) -> list[str]:
    prefix = f"{stage}."
    return [
        f"{k[len(prefix) :]}={json.dumps(v)}" for k, v in overrides.items() if k.startswith(prefix)
    ]


def load_pipeline(
    path: str | Path, overrides: dict[str, Any] | None = None, source: str | None = None
) -> Pipeline:
    """Read and validate a pipeline file; `overrides` maps "vae.x.y"/"sae.x.y" keys to values."""
    path = Path(path)
    src = str(path)
    spec = validate(read_yaml(path), PipelineConfig, src)
    overrides = dict(overrides or {})
    stages: dict[str, tuple[dict, str]] = {}
    for stage in STAGES:
        data, stage_src = _stage_data(getattr(spec, stage), path.parent, src, stage)
        try:
            apply_overrides(data, _overrides(overrides, stage), TrainingConfig)
        except ConfigError as exc:
            where = source or exc.file
            raise ConfigError(
                exc.message, where, f"{stage}.{exc.key}" if exc.key else None
            ) from None
        stages[stage] = (data, stage_src)
    vae = _validate_stage(stages["vae"][0], stages["vae"][1], src, "vae")
    sae_data, sae_src = stages["sae"]
    _validate_stage(_sae_placeholders(sae_data), sae_src, src, "sae")
    return Pipeline(src, spec, vae, sae_data, stages["vae"][1], sae_src)


# -- sweeps -----------------------------------------------------------------------------------


class Distribution(Strict):
    """A random-sampling range: `choices`, or `low`/`high` (optionally `log`, `type: int`)."""

    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    type: Literal["float", "int"] = "float"

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        if self.choices is not None:
            if not self.choices:
                raise ValueError("choices must not be empty")
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give choices, or both low and high")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is more than high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("log sampling needs low > 0")
        return self

    def sample(self, rng: random.Random) -> Any:
        if self.choices is not None:
            return rng.choice(self.choices)
        if self.type == "int":
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)


def check_staged_keys(keys: dict[str, Any]) -> dict[str, Any]:
    for key, value in keys.items():
        if not key.startswith(("vae.", "sae.")) or key.count(".") < 2:
            raise ValueError(f"{key!r} must be a dotted key under vae. or sae.")
        if isinstance(value, list) and not value:
            raise ValueError(f"{key!r} has no values")
    return keys


class RandomSearch(Strict):
    samples: PositiveInt
    seed: int = 0
    params: dict[str, Distribution]

    _keys = field_validator("params")(check_staged_keys)


class Objective(Strict):
    metric: str = "sae.loss"
    direction: Literal["min", "max"] = "min"

    @field_validator("metric")
    @classmethod
    def _staged(cls, v: str) -> str:
        if not v.startswith(("vae.", "sae.")):
            raise ValueError(f"{v!r}: name a stage's validation metric, e.g. sae.loss or vae.loss")
        return v


class SweepConfig(Strict):
    pipeline: str  # relative to the sweep file
    output_dir: str
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    random: RandomSearch | None = None
    objective: Objective = Field(default_factory=Objective)
    concurrency: PositiveInt = 2

    _keys = field_validator("grid")(check_staged_keys)

    @model_validator(mode="after")
    def _some_trials(self) -> SweepConfig:
        if not self.grid and self.random is None:
            raise ValueError("give a grid, random sampling, or both")
        if self.random and (dupes := sorted(set(self.grid) & set(self.random.params))):
            raise ValueError(f"{dupes[0]!r} is both in grid and in random.params")
        return self


@dataclass
class Trial:
    name: str
    params: dict[str, Any]
    pipeline: Pipeline


def trial_points(cfg: SweepConfig) -> list[dict[str, Any]]:
    """The grid's product, each point combined with `samples` seeded random draws; no repeats."""
    keys = list(cfg.grid)
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*cfg.grid.values())]
    points: list[dict[str, Any]] = []
    rng = random.Random(cfg.random.seed) if cfg.random else None
    for base in grid:
        if cfg.random is None:
            points.append(base)
            continue
        for _ in range(cfg.random.samples):
            drawn = {k: d.sample(rng) for k, d in sorted(cfg.random.params.items())}
            points.append({**base, **drawn})
    unique = {canonical_json(p): p for p in points}
    return list(unique.values())


def params_id(params: dict[str, Any]) -> str:
    return text_sha256(canonical_json(params))[:8]


def _rename(pipe: Pipeline, stage: str, suffix: str) -> None:
    if stage == "vae":
        pipe.vae = pipe.vae.model_copy(
            update={
                "experiment": pipe.vae.experiment.model_copy(
                    update={"name": f"{pipe.vae.experiment.name}-{suffix}"}
                )
            }
        )
    else:
        pipe.sae["experiment"]["name"] = f"{pipe.sae['experiment']['name']}-{suffix}"


def load_sweep(path: str | Path) -> tuple[SweepConfig, list[Trial]]:
    """Validate a sweep file and every trial's pipeline (bad keys fail before anything runs).

    A trial's SAE run folder is named by a hash of all its parameters; its VAE run folder
    only by its `vae.*` parameters, so trials that share a VAE share its folder and cache key.
    """
    path = Path(path)
    src = str(path)
    cfg = validate(read_yaml(path), SweepConfig, src)
    pipe_path = (
        Path(cfg.pipeline) if Path(cfg.pipeline).is_absolute() else path.parent / cfg.pipeline
    )
    if not pipe_path.is_file():
        raise ConfigError(f"pipeline file not found: {pipe_path}", src, "pipeline")
    trials = []
    for i, params in enumerate(trial_points(cfg)):
        pipe = load_pipeline(pipe_path, params, source=src)
        vae_params = {k: v for k, v in params.items() if k.startswith("vae.")}
        if vae_params:
            _rename(pipe, "vae", params_id(vae_params))
        _rename(pipe, "sae", params_id(params))
        trials.append(Trial(f"trial-{i:03d}", params, pipe))
    return cfg, trials
