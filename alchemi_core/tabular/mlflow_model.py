"""The final model of a run as an MLflow model (the pytorch flavor, also loadable as pyfunc).

MLflow's pytorch flavor wants one float tensor in and one tensor out. `log_model` logs such a
module with a signature and an input example (a DataFrame of a few rows). Each run kind says
what its module is with a `pack(checkpoint) -> (module, example) | None` function, which
`session.finish_tracking` hands to the tracker:
- `tabular` (VAE, SAE): the models take dict batches and return dicts; `FlatModel` is the thin
  wrapper: its input is the data columns side by side (numerical, then categorical codes, then
  embedding columns, in the checkpoint's DataSpec order), its output the model's embedding
  (`embed`: the VAE's encoder mean, the SAE's latents). It is logged inside a pyfunc model
  that takes the table's raw rows (category names, numbers as in the file): mlflow_table.py;
- alignment and MAE runs: see mlflow_spectral.py.

Serialization: "pickle" (the flavor's default). Loading needs `alchemi_core` importable (and a
plugin model's module); in exchange any model the registry can build is logged, including
plugins with Python control flow that torch.export ("pt2") could not trace.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alchemi_core.tabular.batching import DataSpec

log = logging.getLogger("alchemi")
EXAMPLE_ROWS = 5
_URI_LOCK = threading.Lock()  # log_model reads the global tracking URI: one at a time


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


def frame(x: torch.Tensor, names: list[str]):
    """The first EXAMPLE_ROWS rows of `x` [N, C] as the float32 DataFrame the pyfunc takes."""
    import pandas as pd

    return pd.DataFrame(x[:EXAMPLE_ROWS].float().cpu().numpy().astype(np.float32), columns=names)


def log_model(
    uri: str,
    run_id: str,
    module: nn.Module,
    example,
    register: str | None = None,
    alias: str | None = None,
) -> str:
    """Log `module` (a float tensor of the `example` DataFrame's columns in, one tensor out;
    or an mlflow_table.TableModel) to the run, registered as `register` (with `alias` pointed
    at the new version) when given; returns the model URI."""
    import mlflow
    from mlflow.models import infer_signature

    from alchemi_core.tabular import mlflow_table

    table = isinstance(module, mlflow_table.TableModel)
    if not table:
        module = module.eval()
        with torch.no_grad():
            output = module(torch.tensor(example.to_numpy())).numpy()
        signature = infer_signature(example, output)
    pip = [f"torch=={torch.__version__.split('+')[0]}", "mlflow", "pandas"]
    # the flavors' warnings about pickle: chosen above
    flavor_log = logging.getLogger("mlflow.pyfunc" if table else "mlflow.pytorch")
    with _URI_LOCK:
        previous, level = mlflow.get_tracking_uri(), flavor_log.level
        mlflow.set_tracking_uri(uri)
        flavor_log.setLevel(logging.ERROR)
        try:
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            experiment = client.get_run(run_id).info.experiment_id  # the run's, not the default
            logged = client.create_logged_model(
                experiment, name="model", source_run_id=run_id, model_type="pytorch"
            )
            with warnings.catch_warnings():  # MLflow's own check of the example: not ours
                warnings.simplefilter("ignore", UserWarning)
                if table:
                    info = mlflow_table.log(module, example, pip, register, logged.model_id)
                else:
                    info = mlflow.pytorch.log_model(
                        module,
                        name="model",
                        run_id=run_id,
                        signature=signature,
                        input_example=example,
                        serialization_format="pickle",
                        pip_requirements=pip,
                        registered_model_name=register,
                        model_id=logged.model_id,
                    )
            if register and alias and info.registered_model_version is not None:
                client.set_registered_model_alias(register, alias, info.registered_model_version)
        finally:
            mlflow.set_tracking_uri(previous)
            flavor_log.setLevel(level)
    return info.model_uri
