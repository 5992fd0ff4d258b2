"""The README's MLflow-model snippet (the python block after `<!-- snippet: pyfunc -->`) runs
as written after a real training of the demo's VAE config (shortened), MLflow on SQLite."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from alchemi_core import api
from alchemi_core.tabular.prepare import prepare
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the diamonds data and a tracked training (about 30 s here)


def snippet(marker: str = "<!-- snippet: pyfunc -->") -> str:
    text = (ROOT / "README.md").read_text()
    assert text.count(marker) == 1, marker
    block = re.match(r"\s*```python\n(.*?)\n```", text.split(marker, 1)[1], re.S)
    assert block, f"no python block right after {marker}"
    return block.group(1)


def test_readme_pyfunc_snippet_runs_after_a_training(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    monkeypatch.chdir(tmp_path)  # the snippet's relative paths: the demo's working folder
    assert mlflow_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    prepare("diamonds", tmp_path / "data/diamonds")
    cfg = yaml.safe_load((ROOT / "configs/vae/diamonds.yaml").read_text())
    cfg["train"]["epochs"] = 1
    cfg["train"]["loader_params"]["num_batches_per_epoch"] = 3
    cfg["train"]["loss"]["params"]["kl_warmup_epochs"] = 0
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(cfg))
    result = api.train("vae.yaml")
    assert result.mlflow_run_id

    scope: dict = {}
    exec(compile(snippet(), "README.md:pyfunc", "exec"), scope)  # noqa: S102 - our own README
    embeddings, model = scope["embeddings"], scope["model"]
    assert embeddings.shape == (5, 8) and list(embeddings.columns)[0] == "embed_0"
    assert scope["uri"].startswith("models:/")

    good = pd.read_csv("data/diamonds/test.csv").query("cut == 'Good'").head(3)
    assert model.predict(good).shape == (3, 8)
    good.loc[good.index[0], "cut"] = "Goood"
    with pytest.raises(ValueError, match="column 'cut': unknown category 'Goood'"):
        model.predict(good)
