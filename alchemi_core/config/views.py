"""The built-in config kinds: training, extract, predict, pipeline and sweep (see kinds.py)."""

from __future__ import annotations

import copy
from typing import Any

from alchemi_core.config.checks import check_inference, check_training
from alchemi_core.config.inference import ExtractConfig, PredictConfig
from alchemi_core.config.kind import Kind
from alchemi_core.config.loading import apply_overrides, load_config, parse_yaml, read_yaml
from alchemi_core.config.pipeline import PipelineConfig, load_pipeline, sae_placeholders
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.config.sweep import SweepConfig
from alchemi_core.config.trials import load_sweep
from alchemi_core.errors import ConfigError
from alchemi_core.mae.config import MAE_KIND
from alchemi_core.secrets import redact


def _has(data: dict, *keys: str) -> bool:
    return all(k in data for k in keys)


def _ckpt_path(data: dict) -> bool:
    return isinstance(data.get("checkpoint"), dict) and "path" in data["checkpoint"]


def _is_predict(data: dict) -> bool:
    test = data.get("test") if isinstance(data.get("test"), dict) else {}
    out = str(test.get("output", ""))
    only_test = not ({"train", "val"} & set(data))
    return _ckpt_path(data) and only_test and ("metrics" in test or out.endswith(".parquet"))


# -- data files (validate reads only headers) -------------------------------------------------


def _check_sections(cfg: Any, names: tuple[str, ...], skip: tuple[str, ...] = ()) -> None:
    from alchemi_core.data.headers import check_input

    for name in names:
        section = getattr(cfg, name, None)
        if section is not None and section.data_path not in skip:
            check_input(section.loader_class, section.data_path, cfg.data)


def _training_check(cfg: TrainingConfig, src: str, skip: tuple[str, ...] = ()) -> None:
    check_training(cfg, src)
    _check_sections(cfg, ("train", "val"), skip)


def _inference_check(cfg: Any, src: str) -> None:
    check_inference(cfg, src)
    _check_sections(cfg, ("train", "val", "test"))
    _check_checkpoint(cfg, src)


def _check_checkpoint(cfg: Any, src: str) -> None:
    """An extract/predict config against its checkpoint, when that exists already (validate
    may run before the training): model.class and the data columns it was trained on."""
    from pathlib import Path

    if not Path(cfg.checkpoint.path).exists():
        return
    from alchemi_core.assembly import open_checkpoint
    from alchemi_core.inference.loop import same_spec

    _, ckpt, _ = open_checkpoint(cfg, src)  # the checks extract and predict make at load
    fields = ("numerical", "categorical", "embeddings")
    have = {f: list(getattr(cfg.data.columns, f)) for f in fields}
    spec = {f: list(ckpt["data_spec"][f]) for f in fields}  # categorical: its column names
    same_spec(have, spec, src, "data", fields)


# -- show: defaults filled in, secrets redacted -----------------------------------------------


def _with_defaults(registry: Any, section: dict, name_key: str, params_key: str) -> None:
    model = registry.params(section[name_key])
    if model is not None:
        section[params_key] = model.model_validate(section[params_key]).model_dump()


def runtime_block(cfg: Any) -> dict:
    """The global block as a run resolves it: seed by precedence, device by its one rule."""
    from alchemi_core.config.schema import device_name
    from alchemi_core.runtime import resolve_seed

    g = cfg.global_
    seed, _ = resolve_seed(cfg)
    return {
        **g.model_dump(mode="json"),
        "seed": seed,
        "device": device_name(cfg),
        "dtype": g.dtype or "float32",
        "deterministic": bool(g.deterministic),
    }


def training_view(cfg: TrainingConfig) -> dict:
    from alchemi_core.builders import import_user_modules
    from alchemi_core.registry import DATALOADERS, LOSSES, MODELS

    import_user_modules(cfg.imports, None)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["global"] = runtime_block(cfg)
    _with_defaults(MODELS, data["model"], "class", "params")
    for split in ("train", "val"):
        if data.get(split):
            _with_defaults(LOSSES, data[split]["loss"], "class", "params")
            _with_defaults(DATALOADERS, data[split], "loader_class", "loader_params")
    return redact(data)


def _plain(cfg: Any) -> dict:
    return redact(cfg.model_dump(mode="json", by_alias=True))


# -- pipelines and sweeps ---------------------------------------------------------------------


def _staged(overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """--set keys under vae./sae. (stage overrides) apart from the pipeline's own keys."""
    staged, own = {}, []
    for spec in overrides:
        key, _, raw = spec.partition("=")
        if key.strip().startswith(("vae.", "sae.")):
            staged[key.strip()] = parse_yaml(raw) if raw.strip() else ""
        else:
            own.append(spec)
    return staged, own


def _load_pipeline(path: str, overrides: list[str]):
    staged, own = _staged(overrides)
    data = read_yaml(path)
    apply_overrides(data, own, PipelineConfig)
    return load_pipeline(path, staged, data=data)


def _sae_config(pipe: Any) -> TrainingConfig:
    return TrainingConfig.model_validate(sae_placeholders(pipe.sae))


def _check_stage(pipe: Any, stage: str, data: bool) -> None:
    """One stage's deep check; an inline stage's keys are named from the pipeline's top."""
    cfg, src = (
        (pipe.vae, pipe.vae_source) if stage == "vae" else (_sae_config(pipe), pipe.sae_source)
    )
    try:
        # The SAE's data is the VAE's embeddings, not there yet: its classes and params only.
        _training_check(cfg, src) if data and stage == "vae" else check_training(cfg, src)
    except ConfigError as exc:
        if src != pipe.source or not exc.key:
            raise
        raise ConfigError(exc.message, exc.file, f"{stage}.{exc.key}") from None


def _stage_error(pipe: Any, stage: str, message: str, key: str) -> ConfigError:
    """An error at `key` of a stage: in the stage's own file, or from the pipeline's top."""
    src = pipe.vae_source if stage == "vae" else pipe.sae_source
    return ConfigError(message, src, f"{stage}.{key}" if src == pipe.source else key)


def _check_widths(pipe: Any) -> None:
    """The SAE's input_dim, when given, is the width of the VAE's embeddings."""
    from alchemi_core.registry import MODELS

    want = ((pipe.sae.get("model") or {}).get("params") or {}).get("input_dim")
    params = MODELS.params(pipe.vae.model.class_)
    if want is None or not hasattr(params, "embedding_width"):
        return
    width = params.model_validate(pipe.vae.model.params).embedding_width()
    if want != width:
        raise _stage_error(
            pipe,
            "sae",
            f"{want} does not match the width of the VAE's embeddings, {width} "
            "(its model.params.latent_dim); leave it out to take it from the embeddings",
            "model.params.input_dim",
        )


def _check_pipeline(pipe: Any, src: str, data: bool = True) -> None:
    _check_stage(pipe, "vae", data)
    _check_stage(pipe, "sae", data)
    _check_widths(pipe)
    if data and pipe.spec.extract.test_data_path:
        from alchemi_core.data.headers import check_input

        check_input(pipe.vae.train.loader_class, pipe.spec.extract.test_data_path, pipe.vae.data)


def pipeline_view(pipe: Any) -> dict:
    out = _plain(pipe.spec)
    out.update(vae=training_view(pipe.vae), sae=training_view(_sae_config(pipe)))
    return out


def _load_sweep(path: str, overrides: list[str]):
    data = read_yaml(path)
    apply_overrides(data, overrides, SweepConfig)
    return load_sweep(path, data=data)


def _check_sweep(loaded: Any, src: str) -> None:
    _, trials = loaded
    checked: set[str] = set()
    for trial in trials:
        pipe = trial.pipeline  # data files: once per distinct VAE data (a sweep may vary it)
        files = (pipe.vae.data, pipe.vae.train.data_path, pipe.vae.val, pipe.spec.extract)
        key = repr(files)
        try:
            _check_pipeline(pipe, src, data=key not in checked)
            checked.add(key)
        except ConfigError as exc:
            where = f" ({trial.name}: {trial.params})"
            raise ConfigError(exc.message + where, src, exc.key) from None


def sweep_view(loaded: Any) -> dict:
    cfg, trials = loaded
    out = _plain(cfg)
    out["trials"] = [
        {
            "name": t.name,
            "params": copy.deepcopy(t.params),
            "sae_run": t.pipeline.sae["experiment"]["name"],
        }
        for t in trials
    ]
    return out


KINDS = [
    Kind(
        "sweep",
        lambda d: "pipeline" in d and ("grid" in d or "random" in d),
        _load_sweep,
        _check_sweep,
        sweep_view,
        ("sweeps",),
        schema=SweepConfig,
        order=10,
    ),
    Kind(
        "pipeline",
        lambda d: _has(d, "vae", "sae"),
        _load_pipeline,
        _check_pipeline,
        pipeline_view,
        ("pipelines",),
        schema=PipelineConfig,
        order=20,
    ),
    Kind(
        "predict",
        _is_predict,
        lambda p, o: load_config(p, o, PredictConfig),
        _inference_check,
        _plain,
        ("predict",),
        schema=PredictConfig,
        order=30,
    ),
    Kind(
        "extract",
        _ckpt_path,
        lambda p, o: load_config(p, o, ExtractConfig),
        _inference_check,
        _plain,
        ("extract",),
        schema=ExtractConfig,
        order=40,
    ),
    Kind(
        "training",
        lambda d: _has(d, "experiment", "model", "train", "checkpoint"),
        lambda p, o: load_config(p, o, TrainingConfig),
        _training_check,
        training_view,
        ("vae", "sae", "train", "training"),
        schema=TrainingConfig,
        order=100,
    ),
    MAE_KIND,  # the MAE harness (config/mae.py)
]
