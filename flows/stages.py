"""The VAE and SAE stages of a pipeline, submitted as task futures (shared by flows)."""

from __future__ import annotations

from typing import Any

import yaml
from prefect.futures import PrefectFuture

from alchemi_core.config import pipeline as pl
from alchemi_core.config import steps as step_cfg
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.errors import ConfigError
from alchemi_core.io import write_text
from alchemi_core.secrets import redact
from tasks.checkpoint import checkpoint
from tasks.extract import extract_embeddings
from tasks.predict import predict
from tasks.sae_report import sae_report
from tasks.step import limited
from tasks.tracking import link_runs
from tasks.train import train
from tasks.validate import validate

Futures = dict[str, PrefectFuture]
TASKS = {  # Steps' attribute -> task (flows/cached.py reads the same tasks' cache records)
    "train": train,
    "checkpoint": checkpoint,
    "validate": validate,
    "extract": extract_embeddings,
    "predict": predict,
    "report": sae_report,
}


class Steps:
    """The tasks (GPU ones tagged where a limit exists), forced to re-run (cache refreshed) when
    `refresh` is set. Made inside a flow run; flows/cached.py makes a cache-only stand-in."""

    def __init__(self, refresh: bool = False):
        def opt(t):
            t = limited(t)
            return t.with_options(refresh_cache=True) if refresh else t

        self.refresh = refresh
        for name, task in TASKS.items():
            setattr(self, name, opt(task))
        self.link = link_runs  # bookkeeping: cached, never refreshed


def named(task, step: str, cfg: TrainingConfig, stage: str = ""):
    """The task with a run name the UI can be read by: 'vae: train VAE baseline'."""
    label = f"{stage}: " if stage else ""
    return task.with_options(
        task_run_name=f"{label}{step} {cfg.model.class_} {cfg.experiment.name}"
    )


def submit_model(
    steps: Steps,
    cfg: TrainingConfig,
    source: str,
    strategy: str | None,
    stage: str = "",
    only: tuple[str, ...] = ("checkpoint", "validate"),
) -> Futures:
    """train -> checkpoint -> validate for one model. A sweep asks `only` for the steps it
    needs when the training's own metrics stand in for the validate step (own_metrics)."""
    trained = named(steps.train, "train", cfg, stage).submit(
        step_cfg.dump(cfg), source=source, fresh=steps.refresh
    )
    if not only:
        return {"train": trained}
    strategy = step_cfg.checkpoint_strategy(cfg, strategy)
    ckpt = named(steps.checkpoint, f"checkpoint ({strategy})", cfg, stage).submit(trained, strategy)
    if "validate" not in only:
        return {"train": trained, "checkpoint": ckpt}
    val = named(steps.validate, "validate", cfg, stage).submit(ckpt, **step_cfg.validation(cfg))
    return {"train": trained, "checkpoint": ckpt, "validate": val}


def own_metrics(cfg: TrainingConfig) -> bool:
    """Does the training itself log what the validate step would measure? Yes when it
    validates every epoch: its val_* metrics at the checkpoint's epoch (sweep_results)."""
    return cfg.val is not None and cfg.val.frequency == 1


def submit_vae(steps: Steps, pipe: pl.Pipeline, sweep: bool = False) -> Futures:
    """The VAE's steps and its extraction; in a sweep without the validate step when the
    training's own metrics stand in for it."""
    only = ("checkpoint",) if sweep and own_metrics(pipe.vae) else ("checkpoint", "validate")
    futs = submit_model(steps, pipe.vae, pipe.vae_source, pipe.spec.checkpoint, "vae", only)
    cfg = step_cfg.extract_config(pipe.vae, pipe.spec.extract)
    extract = named(steps.extract, "extract embeddings", pipe.vae, "vae")
    futs["extract"] = extract.submit(cfg, futs["checkpoint"], source=pipe.source)
    return futs


def sae_config(pipe: pl.Pipeline, embeddings: dict[str, Any]) -> TrainingConfig:
    """The SAE config on the extracted embeddings, also written beside its run folder."""
    data = step_cfg.fill_sae(pipe.sae, embeddings["splits"], pipe.sae_source)
    cfg = TrainingConfig.model_validate(data)
    path = step_cfg.run_dir(cfg).with_name(f"{cfg.experiment.name}.config.yaml")
    write_text(path, yaml.safe_dump(redact(data), sort_keys=False))
    return cfg


def submit_sae(
    steps: Steps, pipe: pl.Pipeline, embeddings: dict[str, Any], sweep: bool = False
) -> tuple[TrainingConfig, Futures]:
    """The SAE's steps; in a sweep only its training when its own metrics stand in for the
    validate step."""
    cfg = sae_config(pipe, embeddings)
    only = () if sweep and own_metrics(cfg) else ("checkpoint", "validate")
    return cfg, submit_model(steps, cfg, pipe.sae_source, None, "sae", only)


def submit_predict(
    steps: Steps,
    pipe: pl.Pipeline,
    vae: Futures,
    sae: tuple[TrainingConfig, Futures],
    embeddings: dict,
) -> PrefectFuture:
    step = pipe.spec.predict
    if step.model == "sae":
        cfg, ckpt = sae[0], sae[1]["checkpoint"]
        data_path = embeddings["splits"][step.split]["path"]
    else:
        cfg, ckpt = pipe.vae, vae["checkpoint"]
        data_path = split_tables(pipe)[step.split]
        if data_path is None:
            raise ConfigError("the VAE has no val section", pipe.source, "predict.split")
    task = named(steps.predict, f"predict {step.split}", cfg, step.model)
    return task.submit(step_cfg.predict_config(cfg, step, data_path), ckpt, source=pipe.source)


def split_tables(pipe: pl.Pipeline) -> dict[str, str | None]:
    """The VAE's table of each split (the rows its embeddings are of, in order)."""
    cfg = pipe.vae
    return {
        "train": cfg.train.data_path,
        "val": cfg.val.data_path if cfg.val else None,
        "test": pipe.spec.extract.test_data_path,
    }


def submit_report(
    steps: Steps, pipe: pl.Pipeline, sae: tuple[TrainingConfig, Futures], embeddings: dict
) -> PrefectFuture | None:
    """The SAE's latent report on the test split (val when there is no test); None: neither."""
    tables, splits = split_tables(pipe), embeddings["splits"]
    split = next((s for s in ("test", "val") if tables[s] and s in splits), None)
    if split is None:
        return None
    cfg, futs = sae
    out = str(step_cfg.run_dir(cfg) / f"latent_report_{split}")
    mlflow = step_cfg.dump(cfg).get("mlflow")
    task = named(steps.report, f"latent report ({split})", cfg, "sae")
    return task.submit(
        futs["train"], futs["checkpoint"], splits[split]["path"], tables[split], out, mlflow
    )


def result(futs: Futures, name: str) -> Any:
    """futs[name]'s result; upstream futures first, so a failure raises its own error."""
    for key, fut in futs.items():
        value = fut.result()
        if key == name:
            return value
    raise KeyError(name)


def resolve(futs: Futures) -> tuple[dict[str, Any], dict[str, str]]:
    """Results and state names ("Completed", "Cached") of a stage's futures."""
    results = {name: f.result() for name, f in futs.items()}
    return results, {name: f.state.name for name, f in futs.items()}
