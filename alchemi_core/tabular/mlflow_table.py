"""The MLflow model of a VAE or SAE run: a pyfunc model that takes the table's raw rows.

Input: a DataFrame with the run's columns as they are in its CSV or parquet file: numerical
columns as numbers, categorical columns as their category names (the strings of the run's
cardinalities.json), embedding components as `embedding_<i>` (an SAE's input). Extra columns
are ignored. Output: the model's embedding as columns `embed_<i>` (float32).
An unknown category, a missing value or a non-numeric entry raises ValueError naming the
column and the row. `unwrap_python_model().module` is the torch module (mlflow_model.FlatModel)
on the float tensor of the same columns, categorical ones as their codes.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from torch import nn


def names_by_code(mapping: dict[str, int]) -> list[str]:
    """{name: code} -> the names in code order."""
    names = [""] * len(mapping)
    for name, code in mapping.items():
        names[code] = name
    return names


class TableModel(mlflow.pyfunc.PythonModel):
    def __init__(self, module: nn.Module, numerical, categories: dict[str, list[str]], emb: int):
        self.module = module.eval()
        self.numerical = list(numerical)
        self.categories = {c: list(names) for c, names in categories.items()}
        self.embedding = [f"embedding_{i}" for i in range(emb)]

    @property
    def columns(self) -> list[str]:
        return [*self.numerical, *self.categories, *self.embedding]

    def encode(self, rows: pd.DataFrame) -> torch.Tensor:
        """The raw rows as the module's float tensor (categories -> codes)."""
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise ValueError(f"missing column(s): {', '.join(missing)}")
        parts = [number_column(rows, c) for c in [*self.numerical, *self.embedding]]
        codes = [code_column(rows, c, names) for c, names in self.categories.items()]
        n_num = len(self.numerical)
        cols = [*parts[:n_num], *codes, *parts[n_num:]]
        return torch.from_numpy(np.stack(cols, axis=1).astype(np.float32))

    def log_pyfunc(self, example: pd.DataFrame, pip: list[str], register, model_id: str):
        """How run/mlflow_model.log_model logs this model (see `log`)."""
        return log(self, example, pip, register, model_id)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        with torch.no_grad():
            out = self.module(self.encode(model_input)).float().cpu().numpy()
        return pd.DataFrame(out, columns=[f"embed_{i}" for i in range(out.shape[1])])


def _row(rows: pd.DataFrame, position: int) -> str:
    return f"row {position} (index {rows.index[position]!r})"


def number_column(rows: pd.DataFrame, col: str) -> np.ndarray:
    values = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        r = int(bad[0])
        raise ValueError(f"column {col!r}: not a finite number at {_row(rows, r)}: "
                         f"{rows[col].iloc[r]!r}")  # fmt: skip
    return values


def code_column(rows: pd.DataFrame, col: str, names: list[str]) -> np.ndarray:
    index = {name: code for code, name in enumerate(names)}
    raw = rows[col]
    codes = raw.map(lambda v: index.get(v if isinstance(v, str) else str(v)))
    missing = codes.isna().to_numpy() | raw.isna().to_numpy()
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        value = raw.iloc[r]
        what = "missing value" if pd.isna(value) else f"unknown category {value!r}"
        known = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"column {col!r}: {what} at {_row(rows, r)}; known: {known}")
    return codes.to_numpy(dtype=np.float64)


def raw_example(model: TableModel, x: torch.Tensor) -> pd.DataFrame:
    """Rows of the module's float tensor `x` [N, C] back as raw rows (codes -> names)."""
    frame = pd.DataFrame(x.double().cpu().numpy(), columns=model.columns)
    for col, names in model.categories.items():
        frame[col] = [names[int(round(v))] for v in frame[col]]
    return frame


def log(model: TableModel, example: pd.DataFrame, pip: list[str], register, model_id: str):
    """mlflow.pyfunc.log_model of `model`, typed signature inferred from the raw `example`."""
    from mlflow.models import infer_signature

    signature = infer_signature(example, model.predict(None, example))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=signature,
        input_example=example,
        pip_requirements=pip,
        registered_model_name=register,
        model_id=model_id,
    )
