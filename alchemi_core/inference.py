"""Run a trained checkpoint over data: embeddings, predictions and split-level loss.

Rows always come out in input order (loaders are forced sequential), computed under
torch.inference_mode in the config's batch size. Every output is written atomically with a
JSON sidecar beside it (`<output stem>.json`) saying what made it.

Prediction formats (one row per input row, in input order):
  VAE  numerical columns reconstructed (standardised units, as in the data), embedding columns
       reconstructed (`<name>_<i>`), and per categorical column the predicted class (`<col>`:
       the index from cardinalities.json in .npy, the label in .parquet) and its probability
       (`<col>_prob`).
  SAE  `reconstruction_<i>` for each input dimension, then `latent_<j>` for each SAE latent.
  Other models may define `predictions(outputs) -> [(column names, tensor [B, k]), ...]`.
A `.npy` output holds the float32 table; a `.parquet` output holds the same named columns.
The sidecar lists the column names in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from alchemi_core import builders, runtime
from alchemi_core.config.checks import check_inference
from alchemi_core.config.inference import CheckpointRef, ExtractConfig, InputSection, PredictConfig
from alchemi_core.config.loading import validate
from alchemi_core.config.schema import DataConfig, LossConfig
from alchemi_core.data.batching import BatchLoader, DataSpec
from alchemi_core.data.tabular import load_cardinalities
from alchemi_core.errors import CheckpointError, ConfigError, DataError
from alchemi_core.io import atomic_write, file_sha256, write_json
from alchemi_core.registry import MODELS
from alchemi_core.training import checkpoints
from alchemi_core.training.trainer import Trainer, to_device
from alchemi_core.version import code_version

log = logging.getLogger("alchemi")
Parts = list[tuple[list[str], torch.Tensor]]


# -- the model ---------------------------------------------------------------------------
def load_model(
    checkpoint: str | Path, device: str | torch.device = "cpu", load_strategy: str = "best"
) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a checkpoint file (or run/checkpoints folder), rebuilt in eval mode.

    The returned checkpoint dict gains "path": the file actually loaded.
    """
    path = checkpoints.resolve(checkpoint, load_strategy)
    ckpt = checkpoints.load(path, map_location=device)
    builders.import_user_modules((ckpt.get("config") or {}).get("imports", []), str(path))
    cls = MODELS.get(ckpt["model_class"], str(path), "model_class")
    spec = DataSpec.from_dict(ckpt["data_spec"])
    model = builders.instantiate_model(cls, ckpt["model_params"], spec, str(path))
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0][:160]
        raise CheckpointError(f"weights do not fit {ckpt['model_class']}: {reason}", path) from None
    ckpt["path"] = str(path)
    return model.to(device).eval(), ckpt


def _open(cfg: ExtractConfig | PredictConfig, source: str) -> tuple[nn.Module, dict, torch.device]:
    """Load the config's checkpoint on its device and check model.class against it."""
    check_inference(cfg, source)  # classes and params, before any file is read
    device = runtime.resolve_device(cfg.global_.device or cfg.experiment.device, source)
    if cfg.global_.threads:
        torch.set_num_threads(cfg.global_.threads)
    try:
        model, ckpt = load_model(cfg.checkpoint.path, device, cfg.checkpoint.load_strategy)
    except CheckpointError as exc:
        if exc.key is None:  # the checkpoint file itself is at fault
            raise
        raise CheckpointError(exc.message, source, exc.key) from None  # a key of this config
    if ckpt["model_class"] != cfg.model.class_:
        raise CheckpointError(
            f"{cfg.model.class_!r} does not match the checkpoint {ckpt['path']}, "
            f"which holds a {ckpt['model_class']!r} model",
            source,
            "model.class",
        )
    return model, ckpt, device


def open_split(section: InputSection, data: DataConfig, spec: dict, source: str, key: str):
    """The split's loader, forced to give every row once in input order."""
    loader = builders.build_loader(section, data, source, key)
    have = loader.spec.to_dict()
    for field in ("numerical", "categorical", "embeddings", "embedding_dim"):
        if have[field] != spec[field]:
            raise DataError(
                f"{field} {have[field]} differs from the checkpoint's {spec[field]}",
                source,
                f"{key}.data_path" if field == "embedding_dim" else f"data.columns.{field}",
            )
    if loader.shuffle:
        log.warning(
            "%s: %s.loader_params.shuffle is ignored: rows stay in input order", source, key
        )
    if loader.num_batches_per_epoch is not None:
        log.warning(
            "%s: %s.loader_params.num_batches_per_epoch is ignored: all rows run", source, key
        )
    loader.shuffle, loader.num_batches_per_epoch, loader.drop_last = False, None, False
    return loader


# -- the loop ----------------------------------------------------------------------------
@torch.inference_mode()
def collect(
    loader: BatchLoader, fn: Callable[[dict], torch.Tensor], device: torch.device
) -> torch.Tensor:
    """fn(batch) -> [B, k] for every batch, stitched into one float32 [rows, k] CPU tensor."""
    out: torch.Tensor | None = None
    row = 0
    for batch in loader:
        values = fn(to_device(batch, device, torch.float32))
        if out is None:
            out = torch.empty((loader.num_rows, values.shape[1]), dtype=torch.float32)
        out[row : row + values.shape[0]] = values
        row += values.shape[0]
    if out is None or row != loader.num_rows:
        raise DataError(f"produced {row} rows for {loader.num_rows} input rows", loader.path)
    return out


def embed_all(model: nn.Module, loader: BatchLoader, device: torch.device) -> torch.Tensor:
    return collect(loader, model.embed, device)


def vae_predictions(model: nn.Module, out: dict) -> Parts:
    spec: DataSpec = model.spec
    parts: Parts = []
    if "numerical" in out:
        parts.append((list(spec.numerical), out["numerical"]))
    if "embeddings" in out:
        width = out["embeddings"].shape[1]
        name = spec.embeddings[0] if len(spec.embeddings) == 1 else "embedding"
        parts.append(([f"{name}_{i}" for i in range(width)], out["embeddings"]))
    for col, logits in zip(spec.categorical, out["categorical_logits"], strict=True):
        prob, idx = logits.float().softmax(dim=1).max(dim=1)
        parts.append(([col, f"{col}_prob"], torch.stack([idx.float(), prob], dim=1)))
    return parts


def sae_predictions(model: nn.Module, out: dict) -> Parts:
    rec, lat = out["reconstruction"], out["latents"]
    return [
        ([f"reconstruction_{i}" for i in range(rec.shape[1])], rec),
        ([f"latent_{j}" for j in range(lat.shape[1])], lat),
    ]


PREDICTIONS: dict[str, Callable[[nn.Module, dict], Parts]] = {
    "VAE": vae_predictions,
    "SAE": sae_predictions,
}


def prediction_fn(model: nn.Module, model_class: str, source: str):
    fn = PREDICTIONS.get(model_class)
    if fn is None:
        if not hasattr(model, "predictions"):
            raise ConfigError(
                f"{model_class!r} has no prediction format (define predictions(outputs))",
                source,
                "model.class",
            )
        fn = lambda m, out: m.predictions(out)  # noqa: E731
    names: list[str] = []

    def run(batch: dict) -> torch.Tensor:
        parts = fn(model, model(batch))
        if not names:
            names.extend(n for cols, _ in parts for n in cols)
        return torch.cat([t.float() for _, t in parts], dim=1)

    return run, names


def evaluate_loader(
    model: nn.Module, loader: BatchLoader, loss_fn, device: torch.device
) -> dict[str, float]:
    """The loss and its components averaged over every row, with whole-split metrics."""
    rt = runtime.Runtime(0, "none", device, torch.float32, None, False)
    return Trainer(model, loss_fn, None, loader, rt, 1)._run_epoch(loader, loss_fn, False, 0, None)


# -- writing -----------------------------------------------------------------------------
def sidecar_path(output: str | Path) -> Path:
    return Path(output).with_suffix(".json")


def write_npy(target: str | Path, array: np.ndarray) -> Path:
    def _save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)

    return atomic_write(target, _save)


def write_output(
    target: str | Path, values: torch.Tensor, meta: dict[str, Any], frame: pd.DataFrame | None
) -> dict[str, Any]:
    """Write the array (or parquet frame), then its sidecar; returns path, sha256, sidecar."""
    target = Path(target)
    if frame is None:
        write_npy(target, values.numpy())
    else:
        atomic_write(target, lambda p: frame.to_parquet(p, index=False))
    sha = file_sha256(target)
    side = sidecar_path(target)
    write_json(side, {"output": str(target), "sha256": sha, **meta})
    return {"path": str(target), "sha256": sha, "sidecar": str(side)}


def provenance(ckpt: dict, ckpt_sha: str, cfg, data_path: str) -> dict[str, Any]:
    return {
        "checkpoint": ckpt["path"],
        "checkpoint_sha256": ckpt_sha,
        "checkpoint_epoch": ckpt.get("epoch"),
        "load_strategy": cfg.checkpoint.load_strategy,
        "model_class": ckpt["model_class"],
        "input": str(data_path),
        "input_sha256": file_sha256(data_path),
        "code_version": code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# -- the two commands --------------------------------------------------------------------
def extract(cfg: ExtractConfig, source: str) -> dict[str, dict]:
    model, ckpt, device = _open(cfg, source)
    ckpt_sha = file_sha256(ckpt["path"])
    splits = cfg.splits()
    loaders = {k: open_split(s, cfg.data, ckpt["data_spec"], source, k) for k, s in splits.items()}
    results = {}
    for split, loader in loaders.items():
        t0 = time.perf_counter()
        values = embed_all(model, loader, device)
        meta = {
            "kind": "embeddings",
            "split": split,
            "shape": list(values.shape),
            "dtype": "float32",
            **provenance(ckpt, ckpt_sha, cfg, splits[split].data_path),
        }
        results[split] = write_output(splits[split].output, values, meta, None)
        results[split]["shape"] = list(values.shape)
        log.info(
            "%s embeddings %s -> %s (%.1fs)",
            split,
            tuple(values.shape),
            results[split]["path"],
            time.perf_counter() - t0,
        )
    return results


def _metrics_loss(cfg: PredictConfig, ckpt: dict) -> LossConfig:
    chosen = cfg.test.metrics.loss
    if chosen is not None:
        return chosen
    saved = ckpt.get("config") or {}
    section = saved.get("val") or saved.get("train") or {}
    if not section.get("loss"):
        raise ConfigError("give a loss: the checkpoint has none", None, "test.metrics.loss")
    return LossConfig.model_validate(section["loss"])


def labelled(values: np.ndarray, names: list[str], cfg: PredictConfig, spec: dict) -> pd.DataFrame:
    """The prediction table with categorical class indices mapped back to their labels."""
    frame = pd.DataFrame(values, columns=names)
    cats = [c for c in spec["categorical"] if c in names]
    if cats:
        mappings = load_cardinalities(cfg.data.cardinalities_path, cats)
        for col in cats:
            labels = np.empty(len(mappings[col]), dtype=object)
            for label, idx in mappings[col].items():
                labels[idx] = label
            frame[col] = labels[frame[col].to_numpy().astype(np.int64)]
    return frame


def predict(cfg: PredictConfig, source: str) -> dict[str, Any]:
    model, ckpt, device = _open(cfg, source)
    ckpt_sha = file_sha256(ckpt["path"])
    section = cfg.test
    loader = open_split(section, cfg.data, ckpt["data_spec"], source, "test")
    metrics_cfg = section.metrics
    loss_fn = None
    if metrics_cfg is not None and metrics_cfg.compute:
        loss_cfg = _metrics_loss(cfg, ckpt)
        loss_fn = builders.build_loss(loss_cfg, source, "test.metrics.loss")
    run, names = prediction_fn(model, ckpt["model_class"], source)
    values = collect(loader, run, device)
    frame = None
    if section.output.lower().endswith(".parquet"):
        frame = labelled(values.numpy(), names, cfg, ckpt["data_spec"])
    metrics = evaluate_loader(model, loader, loss_fn, device) if loss_fn is not None else None
    prov = provenance(ckpt, ckpt_sha, cfg, section.data_path)
    meta = {"kind": "predictions", "split": "test", "shape": list(values.shape)}
    result = write_output(section.output, values, {**meta, "columns": names, **prov}, frame)
    result.update(rows=int(values.shape[0]), metrics=None, metrics_path=None)
    if metrics is not None:
        shown = " ".join(f"{k}={v:.5g}" for k, v in metrics.items())
        log.info("test metrics (%s): %s", loss_cfg.class_, shown)
        path = Path(section.output).with_suffix(".metrics.json")
        loss_dump = loss_cfg.model_dump(by_alias=True)
        write_json(path, {"metrics": metrics, "loss": loss_dump, "rows": result["rows"], **prov})
        result.update(metrics=metrics, metrics_path=str(path))
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
    dev = runtime.resolve_device(device)
    model, ckpt = load_model(ref.path, dev, ref.load_strategy)
    loader = open_split(split, data, ckpt["data_spec"], "<evaluate>", "split")
    loss_fn = builders.build_loss(loss, "<evaluate>", "loss")
    return evaluate_loader(model, loader, loss_fn, dev)
