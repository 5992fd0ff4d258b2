"""Typed config of the lab<->sensor alignment stack (`alchemi align train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from alchemi_core.config.loading import apply_overrides, read_yaml, validate
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


class AlignTrainer(Strict):
    """The training loop: epochs, batches, learning rate, checkpoints."""

    epochs: PositiveInt = 10  # passes (of batches_per_epoch batches)
    batch_size: PositiveInt = 256  # lab spectra per batch
    batches_per_epoch: PositiveInt | None = None  # None: one pass over the training spectra
    # the optimizer: `optimizer_config` (as a training config's: optimizer, learning_rate, any
    # keyword of that optimizer), else AdamW with these two (today's default)
    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 0.0  # AdamW's, without optimizer_config
    optimizer_config: OptimizerConfig | None = None
    scheduler: SchedulerConfig | None = None  # a torch scheduler, stepped per epoch
    # per step: linear warm-up over `warmup_steps`, then constant or cosine decay to 0
    warmup_steps: int = Field(default=0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # after the warm-up
    temperature: PositiveFloat = 0.07  # InfoNCE temperature
    grad_clip_norm: PositiveFloat | None = 1.0  # clip the gradients' global norm to this
    val_frequency: PositiveInt = 1  # validate every N epochs
    # best_model.pt follows this metric: a per-sensor metric, or val_top1 (mean over sensors)
    checkpoint_metric: str = "val_top1"
    checkpoint_mode: Literal["min", "max"] = "max"  # max: higher checkpoint_metric is better
    # best_and_last: best_model.pt and last_model.pt; "all" adds epoch_N.pt for every epoch
    save_strategy: Literal["best", "last", "best_and_last", "all"] = "best_and_last"

    @model_validator(mode="after")
    def _one_optimizer(self) -> AlignTrainer:
        check_one_optimizer(self, "trainer")
        if self.scheduler is not None and (self.warmup_steps or self.lr_schedule != "constant"):
            raise ValueError(
                "trainer.scheduler: give either a scheduler or warmup_steps/lr_schedule"
            )
        return self

    def optimizer_block(self) -> OptimizerConfig:
        return self.optimizer_config or default_optimizer(self)


class AlignData(Strict):
    """Lab spectra, sensors, simulated noise, split and augmentations."""

    lab_path: str  # lab spectra: columns named by wavelength in nm (+ optional id)
    sensor_paths: list[str] = Field(min_length=1)  # response tables of the training sensors
    eval_sensor_paths: list[str] = Field(default_factory=list)  # held-out sensors (validation)
    pairs_path: str | None = None  # measured sensor readings, rows matching the lab table
    noise: NonNegativeFloat = 0.01  # std of the Gaussian noise on simulated readings
    val_fraction: float = Field(default=0.2, gt=0, lt=1)  # lab spectra held out for validation
    max_samples: PositiveInt | None = None  # a seeded subset of the lab table
    lab_stride: PositiveInt = 1  # keep every k-th lab wavelength as a lab-tower token
    random_sensors: int = Field(default=0, ge=0)  # random Gaussian band sets mixed into training
    # training readings only: each band dropped with this probability, and with probability
    # `cutoff_prob` a batch loses every band above a random wavelength (VNIR-only sensors)
    band_dropout: float = Field(default=0.0, ge=0, lt=1)
    cutoff_prob: float = Field(default=0.0, ge=0, le=1)  # a batch loses bands above a cut
    split_seed: Seed = 0  # seed of the train/val split


class TokenizerCfg(Strict):
    """How a band (centre, width or response, value) becomes a token."""

    dim: PositiveInt = 64  # token width (the encoder's width)
    num_frequencies: PositiveInt = 12  # Fourier features of centre and width
    min_wavelength_nm: PositiveFloat = 350.0  # wavelength range the features are scaled to
    max_wavelength_nm: PositiveFloat = 2550.0  # upper end of that range
    use_width: bool = True  # false: centre-only ablation (DOFA-style)
    use_response: bool = False  # encode the full response curve when the sensor has one
    # divide each spectrum by its mean value; log(mean) becomes an extra token feature
    normalize: bool = False
    hidden: PositiveInt = 128  # width of the token MLP

    @model_validator(mode="after")
    def _range(self) -> TokenizerCfg:
        if self.max_wavelength_nm <= self.min_wavelength_nm:
            raise ValueError("tokenizer.max_wavelength_nm: must exceed min_wavelength_nm")
        return self


class AlignModel(Strict):
    """The towers' set encoder."""

    depth: PositiveInt = 2  # set-encoder blocks per tower
    heads: PositiveInt = 4  # attention heads (divides tokenizer.dim)
    kind: Literal["attention", "isab_pma"] = "attention"  # SAB blocks, or ISAB + PMA pooling
    num_queries: PositiveInt = 1  # pooling queries
    num_inducing: PositiveInt = 16  # isab_pma: inducing points
    ff_mult: PositiveInt = 2  # feed-forward width, times dim
    dropout: float = Field(default=0.0, ge=0, lt=1)  # dropout in the encoder blocks
    embed_dim: PositiveInt = 64  # the shared embedding's width
    share_encoder: bool = False  # one encoder for both towers


class CycleHead(Strict):
    """The head that reconstructs the lab spectrum from the sensor embedding."""

    weight: NonNegativeFloat = 1.0  # weight of the cycle (lab spectrum) loss
    hidden: PositiveInt = 256  # width of the head's MLP
    # the head predicts the lab spectrum on the full lab grid, as a residual over a physical
    # prior that holds for any sensor: interp = the readings linearly interpolated between
    # band centres; gaussian = the conditional mean of the spectrum given the readings under a
    # Gaussian fitted on the training spectra, through the sensor's band matrix
    prior: Literal["none", "interp", "gaussian"] = "none"
    prior_tokens: bool = False  # gaussian: the sensor tower also reads the prior (lab tokens)
    sam_weight: NonNegativeFloat = 0.0  # adds sam_weight * (1 - cosine(pred, lab spectrum))

    @model_validator(mode="after")
    def _tokens(self) -> CycleHead:
        if self.prior_tokens and self.prior != "gaussian":
            raise ValueError("cycle.prior_tokens: needs cycle.prior: gaussian")
        return self


class Feature(Strict):
    """An absorption feature between two shoulders."""

    name: str  # the feature's metric name
    left_nm: PositiveFloat  # left shoulder of the absorption feature
    right_nm: PositiveFloat  # right shoulder

    @model_validator(mode="after")
    def _order(self) -> Feature:
        if self.right_nm <= self.left_nm:
            raise ValueError(f"banddepth.features: {self.name}: right_nm must exceed left_nm")
        return self


class BandDepthHead(Strict):
    """The head that predicts continuum-removed band depths."""

    weight: NonNegativeFloat = 1.0  # weight of the band-depth loss
    hidden: PositiveInt = 128  # width of the head's MLP
    features: list[Feature] = Field(min_length=1)  # continuum-removed band depths to predict


class Rerank(Strict):
    # sensor -> lab retrieval: the model's `candidates` best lab spectra re-ordered by the
    # known-response distance (the reading vs each candidate simulated through the sensor)
    candidates: PositiveInt = 20


class AlignmentConfig(Strict):
    """An alignment training config."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    experiment: Experiment  # the run's name and folder
    trainer: AlignTrainer = Field(default_factory=AlignTrainer)
    data: AlignData
    tokenizer: TokenizerCfg = Field(default_factory=TokenizerCfg)
    model: AlignModel = Field(default_factory=AlignModel)
    cycle: CycleHead | None = None
    banddepth: BandDepthHead | None = None
    rerank: Rerank | None = None  # re-rank retrieval by the known sensor response
    mlflow: MLflowConfig | None = None

    @model_validator(mode="after")
    def _cross(self) -> AlignmentConfig:
        if self.tokenizer.dim % self.model.heads:
            raise ValueError(
                f"model.heads: {self.model.heads} does not divide tokenizer.dim "
                f"({self.tokenizer.dim})"
            )
        if self.trainer.val_frequency > self.trainer.epochs:
            raise ValueError("trainer.val_frequency: exceeds trainer.epochs")
        metric, logged = self.trainer.checkpoint_metric, logged_metrics(self)
        if metric not in logged:
            from alchemi_core.hints import did_you_mean

            groups = sorted(n for n in logged if "/" not in n)
            raise ValueError(
                f"trainer.checkpoint_metric: {metric!r} is not a metric this run logs"
                f"{did_you_mean(metric, sorted(logged))}; logged: {', '.join(groups)} "
                "(and val_<metric>/<sensor> per sensor)"
            )
        return self


def input_files(cfg: AlignmentConfig) -> dict[str, str]:
    """{key: path} of the files an alignment run reads: its run id and task cache key hash these."""
    d = cfg.data
    paths = {"data.lab_path": d.lab_path, "data.pairs_path": d.pairs_path}
    for key in ("sensor_paths", "eval_sensor_paths"):
        for i, p in enumerate(getattr(d, key)):
            paths[f"data.{key}[{i}]"] = p
    return {k: str(p) for k, p in paths.items() if p}


def logged_metrics(cfg: AlignmentConfig) -> set[str]:
    """Every metric an alignment run of `cfg` logs (alignment/trainer.py; a test compares the
    two on a real epoch, so a new metric there fails until it is named here): the train
    losses, the validation means over training (`val_`) and held-out (`val_heldout_`) sensors,
    and `val_<metric>/<sensor>` for each sensor file."""
    train = ["loss", "nce"]
    val = ["top1", "recall_at_5", "mean_rank", "physics_top1"]
    if cfg.rerank is not None:
        val += ["rerank_top1", "rerank_recall_at_5"]
    if cfg.cycle is not None:
        train += ["cycle", "cycle_cos"] if cfg.cycle.sam_weight else ["cycle"]
        val += ["rmse", "sam_deg"]
    if cfg.banddepth is not None:
        train.append("depth")
        val.append("banddepth_mean_abs_err")
    prefixes = ["val"] + (["val_heldout"] if cfg.data.eval_sensor_paths else [])
    sensors = [Path(p).stem for p in [*cfg.data.sensor_paths, *cfg.data.eval_sensor_paths]]
    names = {"epoch", "lr", *(f"train_{n}" for n in train)}
    names |= {f"{p}_{n}" for p in prefixes for n in val}
    names |= {f"val_{n}/{s}" for n in val for s in sensors}
    return names


def _check(cfg: AlignmentConfig, src: str) -> None:
    from alchemi_core.config.checks import check_optimizer
    from alchemi_core.data.headers import check_align_data

    t = cfg.trainer
    check_optimizer(t.optimizer_block(), t.scheduler, src, "trainer")
    check_align_data(cfg.data)  # the tables exist and hold the right columns (headers only)


def load_alignment_config(path: str | Path, overrides: list[str] | None = None) -> AlignmentConfig:
    data = read_yaml(path)
    apply_overrides(data, list(overrides or []), AlignmentConfig)
    return validate(data, AlignmentConfig, path)


# config/kinds.py makes its Kind of this (kept a dict: no import back into kinds)
KIND = dict(
    name="alignment",
    detect=lambda d: "tokenizer" in d or "trainer" in d,
    load=lambda path, sets: load_alignment_config(path, sets),
    check=_check,
    show=lambda cfg: cfg.model_dump(mode="json", by_alias=True),
    folders=("phase2",),
    schema=AlignmentConfig,
)
