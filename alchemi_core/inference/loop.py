"""The batch loop of inference: every row once, in input order, under torch.inference_mode.

Prediction columns come from the model: `predictions(outputs) -> [(column names, [B, k])]`
(VAE and SAE define theirs; a plugin model defines its own to support `predict`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

from alchemi_core import assembly, builders
from alchemi_core.config.inference import InputSection
from alchemi_core.config.schema import DataConfig
from alchemi_core.errors import ConfigError, DataError
from alchemi_core.runtime import Runtime
from alchemi_core.tabular.batching import BatchLoader
from alchemi_core.tabular.trainer import to_device

log = logging.getLogger("alchemi")


SPEC_FIELDS = ("numerical", "categorical", "embeddings", "embedding_dim")


def same_spec(have: dict, spec: dict, source: str, key: str, fields=SPEC_FIELDS) -> None:
    """The data spec of a split (`have`) is the checkpoint's (`spec`), field by field."""
    for field in fields:
        if have[field] != spec[field]:
            raise DataError(
                f"{field} {have[field]} differs from the checkpoint's {spec[field]}",
                source,
                f"{key}.data_path" if field == "embedding_dim" else f"data.columns.{field}",
            )


def open_split(section: InputSection, data: DataConfig, spec: dict, source: str, key: str):
    """The split's loader, forced to give every row once in input order."""
    loader = builders.build_loader(section, data, source, key)
    same_spec(loader.spec.to_dict(), spec, source, key)
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


def prediction_fn(model: nn.Module, model_class: str, source: str):
    """(batch -> [B, k] predictions, the column names, filled on the first batch)."""
    if not hasattr(model, "predictions"):
        raise ConfigError(
            f"{model_class!r} has no prediction format (define predictions(outputs))",
            source,
            "model.class",
        )
    names: list[str] = []

    def run(batch: dict) -> torch.Tensor:
        parts = model.predictions(model(batch))
        if not names:
            names.extend(n for cols, _ in parts for n in cols)
        return torch.cat([t.float() for _, t in parts], dim=1)

    return run, names


def evaluate_loader(model: nn.Module, loader: BatchLoader, loss_fn, rt: Runtime) -> dict:
    """The loss and its components averaged over every row, with whole-split metrics."""
    return assembly.build_evaluator(model, loss_fn, rt).evaluate(loader, loss_fn)
