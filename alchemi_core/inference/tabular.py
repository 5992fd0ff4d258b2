"""extract and predict (and evaluate), each: model from checkpoint -> batch loop -> output files.

Rows always come out in input order, computed in the config's batch size. Predictions hold the
model's own columns (see its `predictions`): for the VAE the reconstructed numerical and
embedding columns and per categorical column the predicted class and its probability
(`<col>_prob`); for the SAE `reconstruction_<i>` then `latent_<j>`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from alchemi_core import assembly, builders
from alchemi_core.config.inference import CheckpointRef, ExtractConfig, InputSection, PredictConfig
from alchemi_core.config.loading import validate
from alchemi_core.config.schema import DataConfig, LossConfig
from alchemi_core.errors import ConfigError
from alchemi_core.inference.loop import (
    collect,
    embed_all,
    evaluate_loader,
    open_split,
    prediction_fn,
)
from alchemi_core.inference.outputs import labelled, provenance, write_output
from alchemi_core.io import file_sha256
from alchemi_core.output_plan import OutputPlan

log = logging.getLogger("alchemi")


def input_plan(cfg, source: str, ckpt: dict, sections: dict) -> OutputPlan:
    """An OutputPlan whose inputs are every file this extract/predict config reads."""
    inputs = {"config": source, "checkpoint.path": ckpt["path"]}
    inputs["data.cardinalities_path"] = cfg.data.cardinalities_path
    inputs |= {f"{k}.data_path": s.data_path for k, s in sections.items()}
    return OutputPlan(source, inputs)


def extract(cfg: ExtractConfig, source: str) -> dict[str, dict]:
    model, ckpt, rt = assembly.open_checkpoint(cfg, source)
    ckpt_sha = file_sha256(ckpt["path"])
    splits = cfg.splits()
    plan = input_plan(cfg, source, ckpt, splits)
    for split, section in splits.items():
        plan.add(section.output, f"{split}.output", sidecar=True)
    loaders = {k: open_split(s, cfg.data, ckpt["data_spec"], source, k) for k, s in splits.items()}
    with plan:
        return _extract(plan, model, ckpt, ckpt_sha, rt, cfg, loaders)


def _extract(plan, model, ckpt, ckpt_sha, rt, cfg, loaders) -> dict[str, dict]:
    splits = cfg.splits()
    results = {}
    for split, loader in loaders.items():
        t0 = time.perf_counter()
        values = embed_all(model, loader, rt.device)
        meta = {
            "kind": "embeddings",
            "split": split,
            "shape": list(values.shape),
            "dtype": "float32",
            **provenance(ckpt, ckpt_sha, cfg, splits[split].data_path),
        }
        results[split] = write_output(plan, splits[split].output, values, meta, None)
        results[split]["shape"] = list(values.shape)
        log.info(
            "%s embeddings %s -> %s (%.1fs)",
            split,
            tuple(values.shape),
            results[split]["path"],
            time.perf_counter() - t0,
        )
    return results


def metrics_loss(cfg: PredictConfig, ckpt: dict) -> LossConfig:
    """test.metrics.loss, else the loss the checkpoint's run validated (or trained) with."""
    chosen = cfg.test.metrics.loss
    if chosen is not None:
        return chosen
    saved = ckpt.get("config") or {}
    section = saved.get("val") or saved.get("train") or {}
    if not section.get("loss"):
        raise ConfigError("give a loss: the checkpoint has none", None, "test.metrics.loss")
    return LossConfig.model_validate(section["loss"])


def saved_norms(loss_fn, ckpt: dict) -> None:
    """The train split's column norms the checkpoint's run scaled its loss by (if any)."""
    if hasattr(loss_fn, "set_norms") and ckpt.get("column_norms"):
        loss_fn.set_norms(ckpt["column_norms"])


def predict(cfg: PredictConfig, source: str) -> dict[str, Any]:
    model, ckpt, rt = assembly.open_checkpoint(cfg, source)
    ckpt_sha = file_sha256(ckpt["path"])
    section = cfg.test
    plan = input_plan(cfg, source, ckpt, {"test": section})
    plan.add(section.output, "test.output", sidecar=True)
    metrics_path = Path(section.output).with_suffix(".metrics.json")
    if section.metrics is not None and section.metrics.compute:
        plan.add(metrics_path, "test.output")
    with plan:
        return _predict(plan, model, ckpt, ckpt_sha, rt, cfg, source, metrics_path)


def _predict(plan, model, ckpt, ckpt_sha, rt, cfg, source, metrics_path) -> dict[str, Any]:
    section = cfg.test
    loader = open_split(section, cfg.data, ckpt["data_spec"], source, "test")
    loss_fn = None
    if section.metrics is not None and section.metrics.compute:
        loss_cfg = metrics_loss(cfg, ckpt)
        loss_fn = builders.build_loss(loss_cfg, source, "test.metrics.loss")
        saved_norms(loss_fn, ckpt)
        builders.check_loss_fits(ckpt["model_class"], loss_fn, source, "test.metrics.loss")
    run, names = prediction_fn(model, ckpt["model_class"], source)
    values = collect(loader, run, rt.device)
    frame = None
    if section.output.lower().endswith(".parquet"):
        categorical = ckpt["data_spec"]["categorical"]
        frame = labelled(values.numpy(), names, cfg.data.cardinalities_path, categorical)
    metrics = evaluate_loader(model, loader, loss_fn, rt) if loss_fn is not None else None
    prov = provenance(ckpt, ckpt_sha, cfg, section.data_path)
    meta = {"kind": "predictions", "split": "test", "shape": list(values.shape)}
    result = write_output(plan, section.output, values, {**meta, "columns": names, **prov}, frame)
    result.update(rows=int(values.shape[0]), metrics=None, metrics_path=None)
    if metrics is not None:
        shown = " ".join(f"{k}={v:.5g}" for k, v in metrics.items())
        log.info("test metrics (%s): %s", loss_cfg.class_, shown)
        loss_dump = loss_cfg.model_dump(by_alias=True)
        summary = {"metrics": metrics, "loss": loss_dump, "rows": result["rows"], **prov}
        plan.write_json(metrics_path, summary)
        result.update(metrics=metrics, metrics_path=str(metrics_path))
    return result


def evaluate(
    checkpoint: str | Path | dict,
    split: dict | InputSection,
    data: dict | DataConfig,
    loss: dict | LossConfig,
    device: str = "cpu",
) -> dict[str, float]:
    """The loss over a split; checkpoint is a path or {"path", "load_strategy"}."""
    ref = checkpoint if isinstance(checkpoint, dict) else {"path": str(checkpoint)}
    ref = validate(ref, CheckpointRef, "<evaluate>")
    split = split if isinstance(split, InputSection) else validate(split, InputSection, "split")
    data = data if isinstance(data, DataConfig) else validate(data, DataConfig, "data")
    loss = loss if isinstance(loss, LossConfig) else validate(loss, LossConfig, "loss")
    rt = assembly.inference_runtime(device)
    model, ckpt = assembly.load_model(ref.path, rt.device, ref.load_strategy)
    loader = open_split(split, data, ckpt["data_spec"], "<evaluate>", "split")
    loss_fn = builders.build_loss(loss, "<evaluate>", "loss")
    saved_norms(loss_fn, ckpt)
    return evaluate_loader(model, loader, loss_fn, rt)
