"""A fully cached re-run must not pay for torch or MLflow: the flow modules, every step's cache
key and the command line's cache-only answer (flows/cached.py) load neither (the steps import
them when they actually run)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from alchemi_core.config import pipeline as pl, steps
import flows.cached, flows.sweep, flows.vae_sae
from tasks import caching, train
pipe = pl.load_pipeline({str(ROOT / "configs/pipelines/diamonds.yaml")!r})
config, files = train.describe({{"config": steps.dump(pipe.vae)}})
key = caching.step_key("train", config, files)
steps.extract_config(pipe.vae, pipe.spec.extract)
assert flows.cached.answer({str(ROOT / "configs/pipelines/diamonds.yaml")!r}, flows.vae_sae.outcome) is None  # not run yet
print(len(key), sorted(files), sorted(m for m in ("torch", "mlflow") if m in sys.modules))
"""


def test_flows_and_cache_keys_import_neither_torch_nor_mlflow(shipped_workspace):
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=shipped_workspace, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    n, *rest = res.stdout.strip().splitlines()[-1].split(" ", 1)
    assert n == "64" and "'train.data_path'" in rest[0], res.stdout
    assert rest[0].endswith("[]"), res.stdout
