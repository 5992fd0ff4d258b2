"""The `alchemi` command's exit codes and error lines, through real subprocesses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALCHEMI = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "alchemi")


def run(*args, cwd=ROOT):
    return subprocess.run([ALCHEMI, *args], capture_output=True, text=True, timeout=180, cwd=cwd)


def test_success_exit_0(write_config):
    proc = run("train", "--config", str(write_config()))
    assert proc.returncode == 0, proc.stderr


def test_user_error_is_one_line_exit_2(write_config, tmp_path):
    proc = run("train", "--config", str(write_config()), "--set", "train.epochs=0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'cfg.yaml'}: train.epochs: Input should be greater than 0 (got 0)"
    ]
    assert not (tmp_path / "out").exists()


def test_bad_arguments_exit_2():
    proc = run("train")
    assert proc.returncode == 2 and proc.stderr.startswith("error: command line: ")
    assert "Traceback" not in proc.stderr


def test_internal_error_exit_1_one_line_traceback_with_v(write_config):
    cfg = write_config(
        imports=["tests.plugins.my_models"],
        model={"class": "BrokenModel", "params": {}},
        data__columns={"numerical": ["bill_length_mm"]},
        data__cardinalities_path=None,
        checkpoint__metric="train_loss",
    )
    proc = run("train", "--config", str(cfg))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {cfg}: internal error (") and "bug inside the model" in last
    proc = run("-v", "train", "--config", str(cfg))
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "bug inside the model" in proc.stderr
