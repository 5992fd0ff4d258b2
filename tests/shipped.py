"""The one debug overlay (1 epoch, 2 batches, CPU, MLflow to a temporary SQLite store) and a
workspace where every shipped config runs on small data.

The overlay is a list of `--set` overrides, applied by the same helper as the CLI's `--set`
(`alchemi_core.config.loading.apply_overrides`). Epochs stay at `val.frequency` when that is
more than 1, so validation still runs.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import yaml

from alchemi_core.config.kinds import kind_of
from alchemi_core.config.loading import apply_overrides, read_yaml
from alchemi_core.data.prepare import prepare
from tests.conftest import ROOT

ROWS = {"train": 160, "val": 48, "test": 48}


def training_overlay(data: dict, store: str, prefix: str = "") -> list[str]:
    val = data.get("val") if isinstance(data.get("val"), dict) else None
    epochs = max(1, int(val.get("frequency", 1))) if val else 1
    sets = [
        "global.device=cpu",
        "global.threads=1",
        "experiment.device=cpu",
        f"train.epochs={epochs}",
        "train.loader_params.num_batches_per_epoch=2",
    ]
    if val:
        sets.append("val.loader_params.num_batches_per_epoch=2")
    if "mlflow" in data:
        sets.append(f"mlflow.tracking_uri={store}")
    return [prefix + s for s in sets]


def debug_overlay(kind: str, data: dict, store: str) -> list[str]:
    """The overlay of one config file of `kind` (its stage files get their own)."""
    if kind == "training":
        return training_overlay(data, store)
    if kind == "pipeline":
        return [
            s
            for stage in ("vae", "sae")
            if isinstance(data.get(stage), dict)
            for s in training_overlay(data[stage], store, f"{stage}.")
        ]
    if kind in ("extract", "predict"):
        return ["global.device=cpu", "experiment.device=cpu"]
    return []


def overlay_file(path: Path, store: str) -> str:
    """Apply the debug overlay to a config file in place; returns its kind."""
    kind = kind_of(path)
    data = read_yaml(path)
    apply_overrides(data, debug_overlay(kind.name, data, store), kind.schema)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return kind.name


def small_data(root: Path) -> Path:
    """data/<name> for every example data set (a few hundred rows of each split) under `root`."""
    for name in ("penguins", "diamonds", "ofp", "medexp"):
        out = root / "data" / name
        prepare(name, out)
        for split, n in ROWS.items():
            path = out / f"{split}.csv"
            pd.read_csv(path, dtype=str).head(n).to_csv(path, index=False)
    return root / "data"


def copy_configs(root: Path, store: str, source: Path = ROOT / "configs") -> dict[str, str]:
    """configs/ copied under `root` with the overlay applied: relative path -> kind."""
    shutil.copytree(source, root / "configs")
    return {
        str(p.relative_to(root / "configs")): overlay_file(p, store)
        for p in sorted((root / "configs").rglob("*.yaml"))
    }


@contextmanager
def cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)
