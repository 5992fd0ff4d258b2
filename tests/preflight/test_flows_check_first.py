"""Flows check first: a flow script with a bad input fails in its pre-flight (the same checks
as `alchemi config validate`), one line and exit 2, before Prefect is imported or its temporary
API starts; sweeps too (they exited 1 after "every trial failed", 109-132 lines with a Prefect
traceback). One real process per script; the other cases call its `main` in this process.
The deployments' entry points run the same pre-flight before their first task."""

from __future__ import annotations

import importlib

import pytest
import yaml

from alchemi_core.errors import UserError
from tests.conftest import ROOT
from tests.preflight.workspace import assert_one_line

MISSING = {  # flow script -> (config kind, the data file removed)
    "flows/train.py": ("training", "data/penguins/val.csv"),
    "flows/vae_sae.py": ("pipeline", "data/penguins/train.csv"),
    "flows/sweep.py": ("sweep", "data/penguins/train.csv"),
    "flows/alignment.py": ("alignment", "data/spectra/unseen.csv"),
}


@pytest.mark.parametrize("script", list(MISSING))
def test_flow_with_a_missing_data_file(ws, script):
    """A real process per flow script: the line, and neither Prefect, tasks/ nor torch's
    compiler imported."""
    kind, rel = MISSING[script]
    (ws.root / rel).unlink()
    res = ws.script(script, kind)
    assert_one_line(res, rel.rsplit("/", 1)[1], "not found")
    assert res.out == ""
    assert "alchemi_core.config.preflight" in ws.imported  # the import lines were read
    assert not {m for m in ws.imported if m.split(".")[0] in ("prefect", "tasks")}
    assert "torch._dynamo" not in ws.imported  # the optimizer is checked, not built (seconds)
    assert not (ws.root / ".prefect" / "prefect.db").exists()  # no Prefect API was started
    assert not (ws.root / "experiments").exists()


@pytest.mark.parametrize("script", list(MISSING))
def test_validate_and_flow_give_the_same_line(ws, script):
    """One pre-flight: the flow's line is the line of `alchemi config validate`."""
    kind, _ = MISSING[script]
    ws.edit_yaml_text(kind, *_BREAK[kind])
    flow, validate = ws.run(script, kind), ws.run("validate", kind)
    assert assert_one_line(flow) == assert_one_line(validate)


_BREAK = {  # a value only the deep check refuses (a registered class's params)
    "training": ("latent_dim: 4", "latent_dim: 0"),
    "pipeline": ("hidden_dim: 8", "hidden_dim: -8"),
    "sweep": ("concurrency: 2", "concurrency: 0"),
    "alignment": ("heads: 2", "heads: 3"),
}


def _deployments() -> list[tuple[str, dict]]:
    spec = yaml.safe_load((ROOT / "deployments/prefect.yaml").read_text())
    return [(d["entrypoint"], d.get("parameters") or {}) for d in spec["deployments"]]


@pytest.mark.parametrize(("entrypoint", "params"), _deployments(), ids=lambda v: str(v)[:40])
def test_deployment_entry_points_check_first(ws, entrypoint, params):
    """Each deployed flow, given a config whose data file is missing, raises the pre-flight's
    UserError before it touches Prefect (its function runs here without a flow run)."""
    path, name = entrypoint.split(":")
    module = path.removesuffix(".py").replace("/", ".")
    flow = getattr(importlib.import_module(module), name)
    kind = {"vae_sae": "pipeline", "sweep": "sweep", "train": "training"}[module.split(".")[-1]]
    (ws.penguins / "train.csv").unlink()
    with pytest.raises(UserError, match="train.csv: table file not found"):
        flow.fn(**{**params, "config": str(ws.path(kind))})
    assert not (ws.root / "experiments").exists()
