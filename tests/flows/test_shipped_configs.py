"""Every shipped config under configs/ runs end to end, under the one debug overlay, on small
data (penguins, diamonds, a sample of earthlib spectra): training, extraction, prediction, MAE
and alignment configs with the `alchemi` API in one workspace (each first runs the configs it
reads from), pipelines and sweeps as flows.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alchemi_core.config.loading import read_yaml
from tests.conftest import ROOT
from tests.shipped import copy_configs, cwd, small_data

SHIPPED = sorted(str(p.relative_to(ROOT / "configs")) for p in (ROOT / "configs").rglob("*.yaml"))
# Folders in the order their configs run ("" is configs/ itself); a new folder goes here.
ORDER = ["vae", "extract", "sae", "predict", "pipelines", "sweeps", "mae", "", "phase2"]
# What a config reads that another shipped config makes.
NEEDS = {
    "extract/penguins_debug.yaml": ["vae/penguins_debug.yaml"],
    "extract/diamonds.yaml": ["vae/diamonds.yaml"],
    "sae/penguins_debug.yaml": ["extract/penguins_debug.yaml"],
    "sae/diamonds.yaml": ["extract/diamonds.yaml"],
    "predict/penguins_debug_vae.yaml": ["vae/penguins_debug.yaml"],
    "predict/diamonds_vae.yaml": ["vae/diamonds.yaml"],
    "predict/diamonds_sae.yaml": ["sae/diamonds.yaml"],
}

pytestmark = pytest.mark.slow


class Workspace:
    def __init__(self, root: Path, kinds: dict[str, str]):
        self.root, self.kinds, self.results = root, kinds, {}

    def run(self, rel: str):
        """Run a config (and first what it needs) once; its result."""
        if rel not in self.results:
            for need in NEEDS.get(rel, []):
                self.run(need)
            self.results[rel] = self._run(rel)
        return self.results[rel]

    def _run(self, rel: str):
        from alchemi_core import api
        from alchemi_core.alignment import api as align_api

        kind, path = self.kinds[rel], self.root / "configs" / rel
        if kind in ("pipeline", "sweep"):
            return self._flow(kind, rel)
        run = {
            "training": api.train,
            "extract": api.extract,
            "predict": api.predict,
            "mae": api.pretrain_mae,
            "alignment": align_api.train,
        }[kind]
        with cwd(self.root):
            return run(path)

    def _flow(self, kind: str, rel: str):
        """In a folder of its own: a pipeline's stages would clash with the standalone runs."""
        from flows.sweep import sweep_flow
        from flows.vae_sae import vae_then_sae_flow

        own = self.root / "flows" / rel.replace("/", "_").removesuffix(".yaml")
        own.mkdir(parents=True)
        (own / "data").symlink_to(self.root / "data")
        shutil.copytree(self.root / "configs", own / "configs")
        with cwd(own):
            flow = vae_then_sae_flow if kind == "pipeline" else sweep_flow
            return flow(str(own / "configs" / rel))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory, _mlflow_template_db) -> Workspace:
    root = tmp_path_factory.mktemp("shipped_run")
    small_data(root)
    shutil.copy(_mlflow_template_db, root / "mlflow.db")
    return Workspace(root, copy_configs(root, f"sqlite:///{root / 'mlflow.db'}"))


def _rows(ws: Workspace, rel: str, split: str) -> int:
    """Rows of the data a config's split reads (a CSV, or a .npy of embeddings)."""
    path = ws.root / read_yaml(ws.root / "configs" / rel)[split]["data_path"]
    return len(np.load(path)) if path.suffix == ".npy" else len(pd.read_csv(path))


def _finite(metrics: dict) -> bool:
    return bool(metrics) and all(
        math.isfinite(v) for v in metrics.values() if isinstance(v, (int, float))
    )


def _check_mae(ws: Workspace, rel: str, result) -> None:
    ratios = read_yaml(ws.root / "configs" / rel)["train"]["mask_ratios"]
    run = ws.root / result.run_dir
    assert result.status == "finished" and [r["mask_ratio"] for r in result.rows] == ratios
    for row in result.rows:
        assert math.isfinite(row["masked_loss"]) and row["masked_loss"] > 0
        assert row["tokens_per_s"] > 0 and row["bare_tokens_per_s"] > 0
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert (run / "checkpoints" / "last_model.pt").is_file()


def _check_alignment(ws: Workspace, rel: str, result: dict) -> None:
    epochs = read_yaml(ws.root / "configs" / rel)["trainer"]["epochs"]
    assert result["status"] == "finished" and result["epochs_run"] == epochs
    assert (ws.root / result["run_dir"] / "run.json").is_file()
    assert (ws.root / result["best_checkpoint"]).is_file()
    assert "val_top1" in result["metrics"] and _finite(result["metrics"])


@pytest.mark.parametrize("rel", sorted(SHIPPED, key=lambda r: ORDER.index(r.rpartition("/")[0])))
def test_shipped_config_runs(workspace, rel):
    result = workspace.run(rel)
    kind = workspace.kinds[rel]
    if kind == "training":
        assert result.status == "finished" and result.epochs_run >= 1
        assert Path(workspace.root / result.run_dir / "run.json").is_file()
        assert all(math.isfinite(v) for v in result.metrics.values())
    elif kind == "mae":
        _check_mae(workspace, rel, result)
    elif kind == "alignment":
        _check_alignment(workspace, rel, result)
    elif kind == "extract":
        for split, out in result.items():
            arr = np.load(workspace.root / out["path"])
            assert arr.shape[0] == _rows(workspace, rel, split) and np.isfinite(arr).all()
    elif kind == "predict":
        assert result["rows"] == _rows(workspace, rel, "test")
        assert (workspace.root / result["path"]).is_file()
    elif kind == "pipeline":
        assert math.isfinite(result["metrics"]["sae"]["loss"]) and result["predict"]
        assert set(result["embeddings"]) >= {"train", "val", "test"}
        own = workspace.root / "flows" / rel.replace("/", "_").removesuffix(".yaml")
        assert (own / result["files"]["latent report"]).is_file()  # the SAE's latent report
    else:
        assert kind == "sweep", f"no checks for config kind {kind!r}"
        assert result["rows"] and {r["status"] for r in result["rows"]} == {"ok"}
        assert result["best"]["trial"] == result["rows"][0]["trial"]
