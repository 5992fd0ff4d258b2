"""Latents you can read: which rows fire each SAE latent, and what those rows share.

Rows of the embeddings and of the table correspond by position (extraction keeps the order).
For each latent: its firing frequency, its mean activation when it fires, its top rows (the
table's row index and columns), and the column values most enriched among its firing rows:
- a categorical column's value: lift = P(value | fires) / P(value), among values held by at
  least min(5, firing rows) of its firing rows (so one odd row is not a 20x lift);
- a numerical column: the standardised mean shift, (mean over firing rows - mean) / std.
A column is categorical when it is not numeric or has at most 10 distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alchemi_core.errors import DataError
from alchemi_core.tabular.embeddings import open_embeddings
from alchemi_core.tabular.loader import SUFFIXES, check_file

MIN_SUPPORT = 5
FEW_VALUES = 10
CSV_COLUMNS = (
    "latent", "frequency", "fires", "mean_activation", "max_activation", "top_column",
    "top_value", "lift", "value_share", "top_numeric", "mean_shift",
)  # fmt: skip


@dataclass
class Latent:
    latent: int
    fires: int
    frequency: float
    mean_activation: float
    max_activation: float
    categorical: list[tuple[str, str, float, float]] = field(default_factory=list)
    numerical: list[tuple[str, float]] = field(default_factory=list)  # (column, shift)
    top_rows: list[int] = field(default_factory=list)
    top_values: list[float] = field(default_factory=list)
    activations: np.ndarray | None = None  # on its firing rows, for the picture

    def row(self) -> dict:
        cat = self.categorical[0] if self.categorical else ("", "", np.nan, np.nan)
        num = self.numerical[0] if self.numerical else ("", np.nan)
        return {
            "latent": self.latent, "frequency": self.frequency, "fires": self.fires,
            "mean_activation": self.mean_activation, "max_activation": self.max_activation,
            "top_column": cat[0], "top_value": cat[1], "lift": cat[2], "value_share": cat[3],
            "top_numeric": num[0], "mean_shift": num[1],
        }  # fmt: skip


def read_table(path: str | Path) -> pd.DataFrame:
    path = check_file(path, SUFFIXES, "table")
    try:
        if SUFFIXES[path.suffix.lower()] == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read table: {str(exc).splitlines()[0]}", path) from None


def read_inputs(embeddings: str | Path, table: str | Path, width: int):
    """The embeddings (checked against the model's input width) and the table, row-aligned."""
    emb = open_embeddings(embeddings)
    if emb.shape[1] != width:
        raise DataError(f"{emb.shape[1]} columns, but the SAE reads {width}", embeddings)
    frame = read_table(table)
    if len(frame) != emb.shape[0]:
        raise DataError(
            f"{len(frame)} rows, but {Path(embeddings).name} has {emb.shape[0]}: rows must "
            "correspond by position (the embeddings of this table's rows, in its order)",
            table,
        )
    return emb, frame


@torch.no_grad()
def latent_codes(model, emb: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    parts = []
    for start in range(0, emb.shape[0], batch_size):
        x = torch.from_numpy(np.array(emb[start : start + batch_size], dtype=np.float32))
        parts.append(model.embed({"embeddings": x}).float().numpy())
    return np.concatenate(parts)


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    cat, num = [], []
    for col in frame.columns:
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        (num if numeric and s.nunique() > FEW_VALUES else cat).append(col)
    return cat, num


def categorical_lifts(frame: pd.DataFrame, cols: list[str], fires: np.ndarray):
    """Per latent, (column, value, lift, share of firing rows) best first."""
    n, h = fires.shape
    n_f = fires.sum(0)
    need = np.minimum(MIN_SUPPORT, n_f)
    found: list[list[tuple]] = [[] for _ in range(h)]
    f = fires.astype(np.float64)
    for col in cols:
        codes, values = pd.factorize(frame[col].astype("string").fillna("(missing)"))
        onehot = np.zeros((n, len(values)))
        onehot[np.arange(n), codes] = 1.0
        counts = onehot.T @ f  # [values, latents]: firing rows holding each value
        share = counts / np.maximum(n_f, 1)
        lift = share / (onehot.sum(0)[:, None] / n)
        for j in np.flatnonzero(n_f):
            for v in np.flatnonzero(counts[:, j] >= need[j]):
                found[j].append((col, str(values[v]), float(lift[v, j]), float(share[v, j])))
    return [sorted(x, key=lambda t: (-t[2], -t[3])) for x in found]


def numerical_shifts(frame: pd.DataFrame, cols: list[str], fires: np.ndarray):
    """Per latent, (column, standardised mean shift) by the largest |shift| first."""
    h = fires.shape[1]
    found: list[list[tuple]] = [[] for _ in range(h)]
    for col in cols:
        x = frame[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(x)
        sd = x[ok].std()
        if ok.sum() < 2 or sd == 0:
            continue
        f = fires & ok[:, None]
        m = (np.where(ok, x, 0.0) @ f) / np.maximum(f.sum(0), 1)
        for j in np.flatnonzero(f.sum(0)):
            found[j].append((col, float((m[j] - x[ok].mean()) / sd)))
    return [sorted(x, key=lambda t: -abs(t[1])) for x in found]


def describe_latents(codes: np.ndarray, frame: pd.DataFrame, top_rows: int = 5) -> list[Latent]:
    """Every latent, the most frequent first (dead ones last)."""
    fires = codes > 0
    cat, num = split_columns(frame)
    lifts, shifts = categorical_lifts(frame, cat, fires), numerical_shifts(frame, num, fires)
    out = []
    for j in range(codes.shape[1]):
        a = codes[:, j]
        on = a[fires[:, j]]
        order = np.argsort(-a, kind="stable")[: min(top_rows, len(on))]
        out.append(
            Latent(
                j,
                int(len(on)),
                float(len(on) / len(a)),
                float(on.mean()) if len(on) else 0.0,
                float(on.max()) if len(on) else 0.0,
                lifts[j],
                shifts[j],
                [int(i) for i in order],
                [float(a[i]) for i in order],
                on,
            )  # fmt: skip
        )
    return sorted(out, key=lambda lat: (-lat.frequency, lat.latent))
