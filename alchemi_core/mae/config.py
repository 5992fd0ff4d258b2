"""Config of the MAE harness (`alchemi pretrain-mae`): `TrainCfg` under a top-level `train`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from alchemi_core.config.kind import Kind
from alchemi_core.config.loading import load_config
from alchemi_core.config.schema import (
    Experiment,
    GlobalConfig,
    MLflowConfig,
    OptimizerConfig,
    SchedulerConfig,
    Seed,
    Strict,
    check_one_optimizer,
    default_optimizer,
)
from alchemi_core.secrets import redact


class TrainCfg(Strict):
    """Embedding size, masking ratios, logging cadence, steps and the data source.

    data: "synthetic" (random tokens, the benchmark mode), "earthlib" (the spectral library
    the earthlib package ships), or a lab library table: CSV or parquet, columns named by
    wavelength in nm plus an optional `id` (data/spectral.py's format).
    """

    data: str = "synthetic"  # synthetic, earthlib, or a lab table (see above)
    basis: Literal["pca", "cosine"] = "pca"  # spectra -> tokens (SpectralBasisProjector)
    num_tokens: PositiveInt = 16  # tokens per sample (wavelength windows for real spectra)
    token_dim: PositiveInt = 8  # values per token (basis coefficients per window)
    num_samples: PositiveInt = 4096  # synthetic only: size of the random token pool
    embed_dim: PositiveInt = 64  # encoder width
    depth: PositiveInt = 2  # encoder blocks
    heads: PositiveInt = 4  # attention heads (divides embed_dim and decoder_dim)
    encoder_kind: Literal["attention", "isab_pma"] = "attention"  # SAB, or ISAB + PMA pooling
    decoder_dim: PositiveInt = 32  # decoder width
    decoder_depth: PositiveInt = 1  # decoder blocks
    # each in (0, 1), trained one after the other
    mask_ratios: list[float] = Field(default_factory=lambda: [0.5, 0.75, 0.9])
    steps: PositiveInt = 200  # training steps per masking ratio
    batch_size: PositiveInt = 64  # samples per step
    # the optimizer: `optimizer_config` (as a training config's), else AdamW with these two
    learning_rate: PositiveFloat = 1e-3  # AdamW
    weight_decay: float = Field(default=0.05, ge=0)  # AdamW
    optimizer_config: OptimizerConfig | None = None
    scheduler: SchedulerConfig | None = None  # a torch scheduler, stepped at each metrics line
    log_every: PositiveInt = 20  # steps between metrics lines
    checkpoint_every: PositiveInt = 50  # steps between checkpoints (and at each ratio's end)
    eval_batches: PositiveInt = 4  # held-out batches for the reported masked loss
    bench_repeats: int = Field(default=3, ge=0)  # timed repeats of each loop; 0 skips timing
    bench_steps: PositiveInt = 10  # steps per timed repeat
    seed: Seed | None = None  # legacy; see runtime.resolve_seed

    @field_validator("mask_ratios")
    @classmethod
    def _ratios(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one masking ratio")
        for r in v:
            if not 0.0 < r < 1.0:
                raise ValueError(f"{r} is not a masking ratio in (0, 1)")
        if len(set(v)) != len(v):
            raise ValueError("masking ratios listed twice")
        return v

    def optimizer_block(self) -> OptimizerConfig:
        return self.optimizer_config or default_optimizer(self)

    @model_validator(mode="after")
    def _fits(self) -> TrainCfg:
        check_one_optimizer(self, "train")
        if self.embed_dim % self.heads or self.decoder_dim % self.heads:
            raise ValueError(
                f"train.heads: {self.heads} does not divide embed_dim {self.embed_dim} "
                f"and decoder_dim {self.decoder_dim}"
            )
        for r in self.mask_ratios:
            keep = round(self.num_tokens * (1 - r))
            if keep < 1 or keep >= self.num_tokens:
                raise ValueError(
                    f"train.mask_ratios: {r} of {self.num_tokens} tokens leaves "
                    f"{keep} visible; need at least one visible and one masked"
                )
        return self


class MAEConfig(Strict):
    """An MAE harness config."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    experiment: Experiment  # the run's name and folder
    train: TrainCfg
    mlflow: MLflowConfig | None = None


# -- the "mae" config kind (`alchemi config validate|show`, config/kinds.py) -------------------


def _is_mae(data: dict) -> bool:
    return isinstance(data.get("train"), dict) and not ({"model", "checkpoint"} & set(data))


def _check(cfg: MAEConfig, src: str) -> None:
    from alchemi_core.config.checks import check_optimizer
    from alchemi_core.data.headers import check_lab_header
    from alchemi_core.mae.spectra import resolve_source, source_files

    check_optimizer(cfg.train.optimizer_block(), cfg.train.scheduler, src, "train")
    source_files(cfg.train.data, src)  # the spectra file exists (or earthlib is installed)
    table = resolve_source(cfg.train.data, src)  # a lab table (not earthlib, not synthetic)
    if table is not None:
        check_lab_header(table, "train.data")


def _show(cfg: MAEConfig) -> dict:
    return redact(cfg.model_dump(mode="json", by_alias=True))


MAE_KIND = Kind(
    "mae",
    _is_mae,
    lambda path, overrides: load_config(path, overrides, MAEConfig),
    _check,
    _show,
    ("mae",),
    order=90,
    schema=MAEConfig,
)
