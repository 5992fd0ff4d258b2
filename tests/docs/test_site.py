"""The docs site builds with `mkdocs build --strict`: no broken link, anchor or missing page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.snippets import ROOT


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("getting-started", "reference/config", "reference/params/model-VAE", "benchmarks"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
