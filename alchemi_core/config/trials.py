"""Sweep trials: the grid x random points, each a loaded pipeline with its own run names."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alchemi_core.config.loading import read_yaml, validate
from alchemi_core.config.pipeline import Pipeline, load_pipeline
from alchemi_core.config.sweep import SweepConfig
from alchemi_core.errors import ConfigError
from alchemi_core.io import canonical_json, text_sha256


@dataclass
class Trial:
    name: str
    params: dict[str, Any]
    pipeline: Pipeline


def trial_points(cfg: SweepConfig) -> list[dict[str, Any]]:
    """The grid's product (the products of a list of grids, one after another), each point
    combined with `samples` seeded random draws; no repeats."""
    grid = [
        dict(zip(g, combo, strict=True))
        for g in cfg.grids() or [{}]
        for combo in itertools.product(*g.values())
    ]
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


def load_sweep(path: str | Path, data: dict | None = None) -> tuple[SweepConfig, list[Trial]]:
    """Validate a sweep file and every trial's pipeline (bad keys fail before anything runs).

    A trial's SAE run folder is named by a hash of all its parameters; its VAE run folder
    only by its `vae.*` parameters, so trials that share a VAE share its folder and cache key.
    """
    path = Path(path)
    src = str(path)
    cfg = validate(read_yaml(path) if data is None else data, SweepConfig, src)
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
    check_objective(cfg, trials[0].pipeline, src)
    return cfg, trials


def logged_metrics(cfg: dict) -> set[str] | None:
    """The metrics a stage's validate step reports (None: its loss declares no components)."""
    from alchemi_core.builders import import_user_modules
    from alchemi_core.registry import LOSSES

    import_user_modules(list(cfg.get("imports") or []), None)
    section = cfg.get("val") or cfg["train"]
    names = getattr(LOSSES.get(section["loss"]["class"]), "metric_names", ())
    return {"loss", *names} if names else None


def check_objective(cfg: SweepConfig, pipe: Pipeline, src: str) -> None:
    """The objective must be a metric its stage's validate step logs."""
    from alchemi_core.hints import did_you_mean

    stage, name = cfg.objective.metric.split(".", 1)
    stage_cfg = pipe.vae_dict() if stage == "vae" else pipe.sae
    logged = logged_metrics(stage_cfg)
    if logged is not None and name not in logged:
        options = sorted(f"{stage}.{n}" for n in logged)
        raise ConfigError(
            f"{cfg.objective.metric!r} is not a metric the {stage} stage logs"
            f"{did_you_mean(cfg.objective.metric, options)}; logged: {', '.join(options)}",
            src,
            "objective.metric",
        )
