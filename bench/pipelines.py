"""Shortened copies of the demo pipeline (configs/pipelines/diamonds.yaml) for the benches."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from common import ROOT


def prefect_home() -> Path:
    """A private PREFECT_HOME for this bench process (set before Prefect is imported)."""
    # A first ephemeral start builds its database: slow on a busy machine (as flows/cli.py).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if "ALCHEMI_BENCH_PREFECT_HOME" not in os.environ:
        home = Path(tempfile.mkdtemp(prefix="alchemi-bench-prefect-"))
        os.environ["PREFECT_HOME"] = os.environ["ALCHEMI_BENCH_PREFECT_HOME"] = str(home)
    return Path(os.environ["ALCHEMI_BENCH_PREFECT_HOME"])


def write_pipeline(
    folder: Path, data: Path, out: Path, vae_epochs: int | None, sae_epochs: int | None,
    mlflow: bool = True,
) -> Path:  # fmt: skip
    """The demo pipeline with absolute data paths, outputs under `out`, optionally fewer
    epochs (None keeps the demo's) and MLflow in `out`/mlflow.db (or off)."""
    vae = yaml.safe_load((ROOT / "configs/vae/diamonds.yaml").read_text())
    for split in ("train", "val"):
        vae[split]["data_path"] = str(data / f"{split}.csv")
    vae["data"]["cardinalities_path"] = str(data / "cardinalities.json")
    vae["experiment"]["output_dir"] = str(out / "vae")
    spec = yaml.safe_load((ROOT / "configs/pipelines/diamonds.yaml").read_text())
    spec["vae"] = vae
    spec["sae"]["experiment"]["output_dir"] = str(out / "sae")
    spec["extract"]["test_data_path"] = str(data / "test.csv")
    for stage, epochs in (("vae", vae_epochs), ("sae", sae_epochs)):
        if epochs:
            spec[stage]["train"]["epochs"] = epochs
        if mlflow:
            spec[stage]["mlflow"]["tracking_uri"] = f"sqlite:///{out}/mlflow.db"
        else:
            spec[stage].pop("mlflow", None)
    path = folder / f"pipeline-{out.name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
