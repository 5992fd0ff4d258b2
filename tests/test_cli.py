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


def test_level_flags_also_after_the_subcommand(write_config):
    proc = run("train", "--config", str(write_config()), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "training VAE" not in proc.stderr  # -q: warnings and errors only
    proc = run("config", "validate", str(write_config()), "--verbose")
    assert proc.returncode == 0, proc.stderr


def test_every_problem_is_listed_with_v(write_config, tmp_path):
    cfg = str(write_config(train__epochs=0, experiment__seed="x"))
    first = f"error: {cfg}: experiment.seed: "
    proc = run("config", "validate", cfg)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(first) and line.endswith("(+1 more problem; -v lists them)")
    proc = run("config", "validate", cfg, "-v")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if "error:" in ln or "also:" in ln]
    assert lines[0].startswith(first)
    assert lines[1] == f"  also: {cfg}: train.epochs: Input should be greater than 0 (got 0)"


def test_warmup_longer_than_the_run_is_a_warning(write_config):
    cfg = str(write_config(train__epochs=5, train__loss__params__kl_warmup_epochs=10))
    proc = run("config", "validate", cfg)
    assert proc.returncode == 0, proc.stderr
    assert (
        f"{cfg}: train.loss.params.kl_warmup_epochs: 10 is not less than train.epochs (5): "
        "the KL weight never reaches beta"
    ) in proc.stderr
    ok = str(write_config(name="ok.yaml", train__epochs=5, train__loss__params__kl_warmup_epochs=2))
    assert "kl_warmup_epochs" not in run("config", "validate", ok).stderr
