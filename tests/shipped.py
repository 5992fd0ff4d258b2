"""The one debug overlay (1 epoch, 2 batches, CPU, MLflow to a temporary SQLite store) and a
workspace where every shipped config runs on small data.

The overlay is a list of `--set` overrides, applied by the same helper as the CLI's `--set`
(`alchemi_core.config.loading.apply_overrides`). Epochs stay at the validation frequency when
that is more than 1, so validation still runs. MAE configs train 2 steps per masking ratio and
time 1 repeat of 1 step.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import yaml

from alchemi_core.alignment import prepare_spectra
from alchemi_core.config.kinds import kind_of
from alchemi_core.config.loading import apply_overrides, read_yaml
from alchemi_core.tabular.prepare import prepare
from tests.conftest import ROOT

ROWS = {"train": 160, "val": 48, "test": 48}
SPECTRA = 240  # lab spectra kept of earthlib's 7,261 (a seeded sample)
CPU = ["global.device=cpu", "global.threads=1", "experiment.device=cpu"]


def _mlflow(data: dict, store: str) -> list[str]:
    return [f"mlflow.tracking_uri={store}"] if "mlflow" in data else []


def training_overlay(data: dict, store: str, prefix: str = "") -> list[str]:
    val = data.get("val") if isinstance(data.get("val"), dict) else None
    epochs = max(1, int(val.get("frequency", 1))) if val else 1
    sets = [*CPU, f"train.epochs={epochs}", "train.loader_params.num_batches_per_epoch=2"]
    if val:
        sets.append("val.loader_params.num_batches_per_epoch=2")
    return [prefix + s for s in sets + _mlflow(data, store)]


def mae_overlay(data: dict, store: str) -> list[str]:
    sets = ["train.steps=2", "train.eval_batches=1", "train.bench_repeats=1", "train.bench_steps=1"]
    return [*CPU, *sets, *_mlflow(data, store)]


def alignment_overlay(data: dict, store: str) -> list[str]:
    trainer = data.get("trainer") if isinstance(data.get("trainer"), dict) else {}
    epochs = max(1, int(trainer.get("val_frequency", 1)))
    sets = [f"trainer.epochs={epochs}", "trainer.batches_per_epoch=2"]
    return [*CPU, *sets, *_mlflow(data, store)]


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
    if kind == "mae":
        return mae_overlay(data, store)
    if kind == "alignment":
        return alignment_overlay(data, store)
    if kind == "sweep":  # its pipeline is a shipped file, overlaid itself
        return []
    raise ValueError(f"no debug overlay for config kind {kind!r}")


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
    small_spectra(root / "data" / "spectra")
    return root / "data"


def small_spectra(out: Path) -> Path:
    """data/spectra as `alchemi prepare-spectra` writes it (lab.parquet, sensors/*.csv), with
    a seeded sample of SPECTRA lab spectra."""
    written = prepare_spectra.prepare(out)
    lab = Path(written["lab"])
    pd.read_parquet(lab).sample(SPECTRA, random_state=0).to_parquet(lab, index=False)
    return out


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
