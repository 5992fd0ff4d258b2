from __future__ import annotations

import pytest

from tests.preflight.workspace import Workspace, make_workspace


@pytest.fixture
def ws(tmp_path, penguins_dir, capsys, monkeypatch) -> Workspace:
    """A fresh workspace (the current folder for the test) per test: tests edit its files."""
    root = tmp_path / "ws"
    workspace = make_workspace(root, penguins_dir, capsys)
    monkeypatch.chdir(root)
    return workspace
