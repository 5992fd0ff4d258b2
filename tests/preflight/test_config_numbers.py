"""Wrong input accepted silently, config side: a NaN or infinite number anywhere in a config
(typed field, optimizer keyword, model param, --set value) is a config error naming the key, in
every command and flow that reads that kind of config; a CLI flag's number likewise."""

from __future__ import annotations

import pytest

from tests.preflight.workspace import assert_one_line

LR = "learning_rate: 0.001"
# (config kind, text to replace, replacement, the key the error names)
CASES = {
    "training_lr_inf": ("training", LR, "learning_rate: .inf", "train.optimizer_config.learning_rate"),
    "training_optimizer_kwarg_nan": (
        "training",
        LR,
        LR + "\n    weight_decay: .nan",
        "train.optimizer_config.weight_decay",
    ),
    "training_loss_param_inf": ("training", "beta: 1.0", "beta: -.inf", "train.loss.params.beta"),
    "alignment_lr_inf": ("alignment", "learning_rate: 0.002", "learning_rate: .inf", "trainer.learning_rate"),
    "alignment_noise_nan": ("alignment", "noise: 0.01", "noise: .nan", "data.noise"),
    "pipeline_sae_lr_nan": ("pipeline", "learning_rate: 0.003", "learning_rate: .nan", "sae.train.optimizer_config.learning_rate"),
    "sweep_grid_inf": ("sweep", "[0.001, 0.01]", "[0.001, .inf]", "grid.sae.train.optimizer_config.learning_rate.1"),
    "mae_lr_inf": ("mae", "weight_decay: 0.05", "weight_decay: .inf", "train.weight_decay"),
}  # fmt: skip

# every command and flow that reads each kind
RUNS = {
    "training": ["train", "validate", "flows/train.py"],
    "alignment": ["align train", "validate", "flows/alignment.py"],
    "pipeline": ["validate", "flows/vae_sae.py"],
    "sweep": ["validate", "flows/sweep.py"],
    "mae": ["pretrain-mae", "validate"],
}
PARAMS = [(case, cmd) for case, spec in CASES.items() for cmd in RUNS[spec[0]]]


@pytest.mark.parametrize(("case", "command"), PARAMS)
def test_non_finite_config_number_is_a_config_error(ws, case, command):
    kind, old, new, key = CASES[case]
    if kind == "mae":  # the shipped MAE config leaves weight_decay at its default
        ws.edit(kind, train__weight_decay=0.05)
    path = ws.edit_yaml_text(kind, old, new)
    res = ws.run(command, kind)
    assert_one_line(res, f"error: {path}: {key}: must be a finite number")
    assert not (ws.root / "experiments").exists()  # nothing was started


@pytest.mark.parametrize("command", ["train", "validate"])
def test_non_finite_set_override(ws, command, capsys):
    from tests.reliability_helpers import run_cli

    path = ws.path("training")
    argv = ["config", "validate", path] if command == "validate" else ["train", "--config", path]
    code, _, err = run_cli([*argv, "--set", "train.optimizer_config.learning_rate=.nan"], capsys)
    assert_one_line(
        _res(code, err), f"{path}: train.optimizer_config.learning_rate: must be a finite"
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5"])
def test_align_eval_noise_flag(ws, value):
    """Checked before the run folder is even read (none exists here)."""
    assert_one_line(
        ws.align_eval(f"--noise={value}"), "error: --noise: must be a finite number >= 0"
    )


def _res(code: int, err: str):
    from tests.preflight.workspace import Result

    return Result(code, "", err)
