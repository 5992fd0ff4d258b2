"""Fixtures of the boundary tests: a private workspace per test, the session's runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.boundary.harness import COMMANDS, Workspace, copy_data
from tests.test_bad_input import sae_run, vae_embeddings  # noqa: F401  (session fixtures)


@pytest.fixture(scope="session")
def align_run(tmp_path_factory):
    """The debug alignment model trained for one epoch on tiny synthetic spectra."""
    from alchemi_core.alignment import api as align_api
    from tests.spectral.helpers import tiny_config

    base = tmp_path_factory.mktemp("align_run")
    align_api.train(tiny_config(base / "d", base / "runs", **{"trainer.epochs": 1}))
    return base / "runs" / "align_debug"


@pytest.fixture
def ws(tmp_path, penguins_dir, vae_run, request, monkeypatch) -> Workspace:
    """A workspace in tmp_path (the working folder too); the session runs are watched."""
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.chdir(root)
    space = Workspace(root, copy_data(penguins_dir, root / "data"), vae_run)
    space.watch.append(vae_run)
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    name = params.get("command")
    if name and COMMANDS[name].needs_align:
        space.align_run = request.getfixturevalue("align_run")
        space.watch.append(space.align_run)
    if name and COMMANDS[name].needs_sae:
        space.sae_run = request.getfixturevalue("sae_run")
        space.embeddings = Path(request.getfixturevalue("vae_embeddings")["train"])
        space.watch += [space.sae_run, space.embeddings]
    return space
