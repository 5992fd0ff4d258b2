"""The VAE/SAE run's MLflow model (run/mlflow_model.py logs it).

The models take dict batches and return dicts; `FlatModel` is the thin wrapper: its input is
the data columns side by side (numerical, then categorical codes, then embedding columns, in
the checkpoint's DataSpec order), its output the model's embedding (`embed`: the VAE's encoder
mean, the SAE's latents). It is logged inside a pyfunc model that takes the table's raw rows
(category names, numbers as in the file): mlflow_table.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from alchemi_core.run.mlflow_model import EXAMPLE_ROWS, frame
from alchemi_core.tabular.batching import DataSpec

log = logging.getLogger("alchemi")


def columns(spec: DataSpec) -> list[str]:
    """The wrapper's input columns: numerical, categorical codes, embedding components."""
    emb = [f"embedding_{i}" for i in range(spec.embedding_dim)]
    return [*spec.numerical, *spec.categorical, *emb]


class FlatModel(nn.Module):
    """model(batch dict) -> embed, as a function of one float tensor of the columns above."""

    def __init__(self, model: nn.Module, spec: DataSpec):
        super().__init__()
        self.model = model.eval()
        self.n_num = len(spec.numerical)
        self.n_cat = len(spec.categorical)
        self.emb_dim = spec.embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(to_batch(x, self.n_num, self.n_cat, self.emb_dim))


def to_batch(x: torch.Tensor, n_num: int, n_cat: int, emb_dim: int) -> dict[str, torch.Tensor]:
    batch: dict[str, torch.Tensor] = {}
    if n_num:
        batch["numerical"] = x[:, :n_num].float()
    if n_cat:
        batch["categorical"] = x[:, n_num : n_num + n_cat].round().long()
    if emb_dim:
        batch["embeddings"] = x[:, n_num + n_cat : n_num + n_cat + emb_dim].float()
    return batch


def example_input(loader, spec: DataSpec):
    """A few rows of the run's data, as the DataFrame the pyfunc model takes."""
    batch = next(iter(loader))
    keys = [k for k in ("numerical", "categorical", "embeddings") if k in batch]
    x = torch.cat([batch[k][:EXAMPLE_ROWS].float().cpu() for k in keys], dim=1)
    return frame(x, columns(spec))


def tabular(checkpoint: str | Path, loader, cardinalities: str | None = None):
    """The pack of a VAE or SAE run: the raw-row model (mlflow_table.TableModel) around the
    FlatModel of the checkpoint, with the category names of `cardinalities` (the run's
    cardinalities.json); rows of `loader` as the example. None for a model without `embed`."""
    from alchemi_core.checkpoint_model import load_model
    from alchemi_core.tabular import mlflow_table
    from alchemi_core.tabular.loader import load_cardinalities

    model, ckpt = load_model(checkpoint)
    if not hasattr(model, "embed"):
        log.warning("MLflow model not logged: %s has no embed()", ckpt["model_class"])
        return None
    spec = DataSpec.from_dict(ckpt["data_spec"])
    cats = list(spec.categorical)
    mappings = load_cardinalities(cardinalities, cats) if cats else {}
    names = {c: mlflow_table.names_by_code(mappings[c]) for c in cats}
    table = mlflow_table.TableModel(
        FlatModel(model, spec), spec.numerical, names, spec.embedding_dim
    )
    x = torch.tensor(example_input(loader, spec).to_numpy())
    return table, mlflow_table.raw_example(table, x)
