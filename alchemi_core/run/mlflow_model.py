"""Logging a run's final model as an MLflow model, for every stack (the pytorch flavor, also
loadable as pyfunc).

MLflow's pytorch flavor wants one float tensor in and one tensor out. `log_model` logs such a
module with a signature and an input example (a DataFrame of a few rows). Each stack says what
its module is with a `pack(checkpoint) -> (module, example) | None` function (its recipe's
`mlflow_model`), which `session.finish_tracking` hands to the tracker: tabular/mlflow_model.py
for the VAE and SAE, alignment/mlflow_model.py for the spectral stacks.

Serialization: "pickle" (the flavor's default). Loading needs `alchemi_core` importable (and a
plugin model's module); in exchange any model the registry can build is logged, including
plugins with Python control flow that torch.export ("pt2") could not trace.
"""

from __future__ import annotations

import logging
import threading
import warnings

import numpy as np
import torch
from torch import nn

EXAMPLE_ROWS = 5
_URI_LOCK = threading.Lock()  # log_model reads the global tracking URI: one at a time


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
    or a pyfunc model with its own `log_pyfunc`, as tabular/mlflow_table.py's) to the run, registered as `register` (with `alias` pointed
    at the new version) when given; returns the model URI."""
    import mlflow
    from mlflow.models import infer_signature

    table = callable(getattr(module, "log_pyfunc", None))
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
                    info = module.log_pyfunc(example, pip, register, logged.model_id)
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
