"""Every `bash` block of docs/getting-started.md, run as written and in order, in a fresh clone.

The clone reuses this checkout's .venv (a symlink; `make setup` finds it installed) and runs the
clone's own code (PYTHONPATH), on the committed tree (HEAD).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.snippets import ROOT, blocks

PAGE = ROOT / "docs/getting-started.md"


def test_the_page_has_command_blocks():
    assert len(blocks(PAGE, "bash")) >= 4


@pytest.mark.slow
def test_getting_started_blocks_run_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "alchemi"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(Path(sys.executable).parents[1])
    stamp = (clone / ".venv/.installed").stat().st_mtime
    os.utime(clone / "pyproject.toml", (stamp - 60, stamp - 60))  # installed: setup has no work
    env = {
        **os.environ,
        "PYTHONPATH": str(clone),
        "OMP_NUM_THREADS": "1",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    said = {}
    for i, block in enumerate(blocks(PAGE, "bash")):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert done.returncode == 0, (
            f"block {i}:\n{block}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
        said[block] = done.stdout + done.stderr
    # what the page says the blocks do
    again = next(out for b, out in said.items() if b.count("train --config configs/vae/") == 2)
    assert "already finished" in again and "nothing to do" in again
    flow = next(out for b, out in said.items() if "flows/vae_sae.py" in b)
    assert "VAE -> SAE pipeline: done" in flow and "View at" not in flow
    show = next(out for b, out in said.items() if "config show" in b)
    assert "name: my_penguins" in show
    assert (clone / "experiments/vae/my_penguins/run.json").is_file()
