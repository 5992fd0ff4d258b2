"""Shared checks of a 2-rank `--nproc 2` run (torchrun, gloo on CPU) for the DDP tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from tests.conftest import ROOT


def alchemi(*args: str, failpoint: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ALCHEMI_PLOTS": "0"}
    env["ALCHEMI_FAILPOINT"] = failpoint
    cmd = [sys.executable, "-m", "alchemi_core.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last_model.pt", weights_only=False)
    return ckpt["model_state"]


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def check_two_ranks_and_resume(
    command: Callable[[str, int], list[str]],
    runs: Path,
    same_training: Callable[[Path, Path], None],
    epochs: int,
) -> None:
    """A 2-rank run at batch 8, killed (rank 0, SIGKILL) after epoch 1's checkpoint and resumed
    by the same command, trains as 1 rank at batch 16 (in this process: one rank needs no
    launcher); rank 0 alone writes. `command(name, batch)` is the CLI's argv for a run named
    `name`, written under `runs`."""
    from alchemi_core.cli import main

    assert main(command("one", 16)) == 0

    argv = command("two", 8)
    killed = alchemi(*argv, "--nproc", "2", failpoint="epoch.saved:1")
    assert killed.returncode != 0
    assert json.loads((runs / "two" / "run.json").read_text())["status"] == "running"
    resumed = alchemi(*argv, "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout[resumed.stdout.index("{") :])["resumed_from_epoch"] == 1
    same_training(runs / "one", runs / "two")

    # Written once: one result printed, the folder lock released, one checkpoint.
    assert resumed.stdout.count('"run_dir"') == 1
    assert "in use by pid" not in resumed.stderr
    assert sorted(p.name for p in (runs / "two" / "checkpoints").iterdir()) == ["last_model.pt"]
    info = json.loads((runs / "two" / "run.json").read_text())
    assert info["status"] == "finished" and info["epoch"] == epochs
