"""The reference documents' own names: the `alchemi` import paths and the `scripts/` files.

The paths are re-exports of alchemi_core (the same objects); the scripts run the `alchemi`
command's own entry point, so they take the same options and fail the same way.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.spectral.helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

PATHS = [
    ("alchemi.train.alignment_trainer", "AlignmentTrainer",
     "alchemi_core.alignment.trainer"),
    ("alchemi.training.trainer", "run_pretrain_mae", "alchemi_core.api"),
    ("alchemi.models.factory", "build_set_encoder", "alchemi_core.nn.set_encoder"),
    ("alchemi.config", "GlobalConfig", "alchemi_core.config.schema"),
    ("alchemi.config", "TrainingConfig", "alchemi_core.config.schema"),
    ("alchemi.config", "load_config", "alchemi_core.config.loading"),
    ("alchemi.config", "AlignmentConfig", "alchemi_core.alignment.config"),
    ("alchemi.config", "TrainCfg", "alchemi_core.mae.config"),
]  # fmt: skip


ALIASES = {"run_pretrain_mae": "pretrain_mae"}  # the reference's name -> alchemi_core's


@pytest.mark.parametrize(("module", "name", "core"), PATHS)
def test_spec_import_path_is_the_core_object(module, name, core):
    assert getattr(importlib.import_module(module), name) is getattr(
        importlib.import_module(core), ALIASES.get(name, name)
    )


def test_the_public_package_imports_no_prefect():
    code = (
        "import sys, alchemi, alchemi.config, alchemi.train.alignment_trainer, "
        "alchemi.training.trainer, alchemi.models.factory; "
        "print(any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_alignment_trainer_from_yaml_trains_a_run(tmp_path):
    from alchemi.train.alignment_trainer import AlignmentTrainer

    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 1})
    trainer = AlignmentTrainer.from_yaml(cfg)
    result = trainer.fit()
    run_dir = tmp_path / "runs" / "align_debug"
    assert result.status == "finished" and result.run_dir == str(run_dir)
    assert (run_dir / "checkpoints" / "best_model.pt").is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    # the same config again: a finished run is reused, not trained twice
    assert AlignmentTrainer.from_yaml(cfg).fit().status == "already_finished"


def test_run_pretrain_mae_from_a_yaml_path(tmp_path):
    from alchemi.training.trainer import run_pretrain_mae

    cfg = yaml.safe_load((ROOT / "configs/mae/synthetic_debug.yaml").read_text())
    cfg["experiment"]["output_dir"] = str(tmp_path)
    cfg["train"].update(mask_ratios=[0.5], steps=2, bench_repeats=0)
    path = tmp_path / "mae.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = run_pretrain_mae(path)
    assert result.status == "finished" and len(result.rows) == 1


def test_build_set_encoder_from_the_factory_path():
    import torch

    from alchemi.models.factory import build_set_encoder

    enc = build_set_encoder(8, depth=1, heads=2)
    assert enc(torch.zeros(3, 5, 8)).shape == (3, 8)


# -- scripts/ --------------------------------------------------------------------------------


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=ENV, timeout=300)


ALCHEMI = str(Path(sys.executable).parent / "alchemi")


SCRIPTS = [("extract_embeddings.py", "extract"), ("predict.py", "predict")]


@pytest.mark.parametrize(("script", "command"), SCRIPTS)
def test_script_runs_the_commands_entry_point(tmp_path, monkeypatch, capsys, script, command):
    import runpy

    from alchemi_core.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("checkpoint: {path: nowhere}\ntest: {data_path: x.csv, output: y.npy}\n")
    monkeypatch.setattr(sys, "argv", [script, "--config", str(bad)])
    with pytest.raises(SystemExit) as ours:
        runpy.run_path(str(ROOT / "scripts" / script), run_name="__main__")
    err = capsys.readouterr().err
    assert ours.value.code == main([command, "--config", str(bad)]) == 2
    assert err == capsys.readouterr().err and err.startswith("error: ")


@pytest.mark.slow
@pytest.mark.parametrize(("script", "command"), SCRIPTS)
def test_script_has_the_commands_options_and_errors(tmp_path, script, command):
    py = [sys.executable, str(ROOT / "scripts" / script)]
    ours, theirs = run(*py, "--help", cwd=tmp_path), run(ALCHEMI, command, "--help", cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout and "--config" in ours.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("checkpoint: {path: nowhere}\ntest: {data_path: x.csv, output: y.npy}\n")
    ours = run(*py, "--config", str(bad), cwd=tmp_path)
    theirs = run(ALCHEMI, command, "--config", str(bad), cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 2
    assert ours.stderr == theirs.stderr and ours.stderr.startswith("error: ")
    assert len(ours.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_extract_script_writes_what_alchemi_extract_writes(tmp_path, vae_run, penguins_dir):
    from tests.test_inference import repoint, shipped

    outputs = {}
    for who in ("script", "cli"):
        cfg = repoint(shipped("extract/penguins_debug.yaml"), penguins_dir, tmp_path / who)
        cfg["checkpoint"]["path"] = str(vae_run / "checkpoints")
        path = tmp_path / f"{who}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        if who == "script":
            proc = run(sys.executable, str(ROOT / "scripts/extract_embeddings.py"), "--config",
                       str(path), cwd=tmp_path)  # fmt: skip
        else:
            proc = run(ALCHEMI, "extract", "--config", str(path), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outputs[who] = json.loads(proc.stdout)
    assert set(outputs["script"]) == set(outputs["cli"]) and outputs["script"]
    for split, written in outputs["script"].items():
        assert written["sha256"] == outputs["cli"][split]["sha256"]
        assert written["shape"] == outputs["cli"][split]["shape"]
