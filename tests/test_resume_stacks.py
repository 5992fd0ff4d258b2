"""Kill-and-resume for the spectral stacks, through the one runner: a run SIGKILLed right after
a checkpoint and started again ends with the weights, optimizer state and metrics lines of a
run never interrupted, bit for bit (the VAE's own, at five kill points, is in test_resume.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from alchemi_core.config.loading import read_yaml
from alchemi_core.run import checkpoints
from tests.conftest import ROOT
from tests.reliability_helpers import alchemi, assert_same_state, run_cli
from tests.spectral.helpers import tiny_config


def alignment_case(tmp_path):
    # warm-up + cosine (a function of the step) and shuffling: every state matters on resume
    sets = {"trainer.epochs": 3, "trainer.warmup_steps": 2, "trainer.lr_schedule": "cosine"}
    return tiny_config(tmp_path / "d", tmp_path / "runs", **sets), ["align", "train"], 2


def mae_case(tmp_path):
    cfg = read_yaml(ROOT / "configs/mae/synthetic_debug.yaml")
    cfg["experiment"]["output_dir"] = str(tmp_path / "runs")
    cfg["train"].update(bench_repeats=0, log_every=1)
    path = tmp_path / "mae.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, ["pretrain-mae", "--json"], 3  # the 3rd checkpoint: step 3 of the second ratio


CASES = {"alignment": alignment_case, "mae": mae_case}


def final(run_dir):
    ckpt = checkpoints.load(run_dir / "checkpoints" / "last_model.pt")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("epoch_seconds", None)
    return {k: ckpt[k] for k in ("model_state", "optimizer_state", "epoch")}, lines


def moved(cfg_path, out):
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["experiment"]["output_dir"] = str(out)
    path = cfg_path.with_name(f"{out.name}.yaml")
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("stack", sorted(CASES))
def test_a_killed_run_resumes_to_the_uninterrupted_weights(stack, tmp_path, capsys):
    cfg, command, kill_at = CASES[stack](tmp_path)
    straight = moved(cfg, tmp_path / "straight")
    rc, _, err = run_cli([*command, "--config", straight], capsys)  # the writer thread on
    assert rc == 0, err
    killed = alchemi(
        [*command, "--config", cfg], tmp_path, {"ALCHEMI_FAILPOINT": f"epoch.saved:{kill_at}"}
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = next((tmp_path / "runs").iterdir())
    partial = checkpoints.newest_intact(run_dir)[1]["epoch"]
    resumed = alchemi([*command, "--config", cfg], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_epoch"] == partial
    state, lines = final(run_dir)
    want_state, want_lines = final(tmp_path / "straight" / run_dir.name)
    assert_same_state(state, want_state)
    assert lines == want_lines and len(lines) > 1
