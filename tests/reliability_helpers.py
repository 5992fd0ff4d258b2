"""Shared helpers for the reliability tests (resume, bad input, secrets, outages)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from alchemi_core import cli

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """alchemi_core.cli.main in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def alchemi(args: list, cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """A real `alchemi` process (python -m alchemi_core.cli), the repo importable (tests.*)."""
    return subprocess.run(
        [sys.executable, "-m", "alchemi_core.cli", *map(str, args)],
        cwd=cwd,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=kw.pop("timeout", 300),
        **kw,
    )


def subprocess_env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("ALCHEMI_FAILPOINT", None)
    env.update(extra or {})
    return env


def assert_same_state(a, b, where: str = "") -> None:
    """Nested dicts/lists of tensors and numbers: exactly equal (bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"tensors differ at {where}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {where}: {set(a) ^ set(b)}"
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def mlflow_run(uri: str, run_id: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client, client.get_run(run_id)
