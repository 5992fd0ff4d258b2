"""The browser check (tests/e2e/ui_check.py) as a slow test; skipped without chromium."""

from __future__ import annotations

import pytest

from tests.e2e.ui_check import browser, check

pytestmark = pytest.mark.slow


@pytest.mark.skipif(browser() is None, reason="chromium is not installed")
def test_prefect_and_mlflow_pages_show_the_summary_and_plots(tmp_path):
    found = check(tmp_path / "shots", tmp_path / "work")
    for name in ("ui_prefect_artifact.png", "ui_mlflow_run.png"):
        shot = tmp_path / "shots" / name
        assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000, name
    assert found["sae_run"]
