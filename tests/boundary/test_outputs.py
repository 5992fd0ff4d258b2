"""The one output policy, for every command that writes files: an existing folder is never
taken as an output file, no output (or its sidecar) overwrites an input of the same command,
and no two outputs resolve to the same file. Refused before any work, nothing written."""

from __future__ import annotations

import pytest

from tests.boundary.harness import COMMANDS, assert_refused, before, pick, run

# The first file each command writes under its output place.
FIRST_OUTPUT = {
    "extract": "train_embeddings.npy",
    "predict": "test_predictions.npy",
    "align extract": "emb.npy",
    "align eval": "other_retrieval_ranks.png",
    "prepare-data": "train.csv",
    "prepare-spectra": "lab.parquet",
    "sae report": "latents.csv",
}


@pytest.mark.parametrize("command", pick(*FIRST_OUTPUT))
def test_an_existing_folder_is_never_an_output_file(command, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {})
    (ws.out / FIRST_OUTPUT[command]).mkdir(parents=True)
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), cmd.file or ws.config, cmd.out_key)
    assert "existing folder" in line


@pytest.mark.parametrize(
    ("command", "key"), [("extract", "train.output"), ("predict", "test.output")]
)
def test_a_sidecar_never_overwrites_an_input(command, key, ws, capsys):
    """`cardinalities.npy` beside the input `cardinalities.json`: its sidecar would replace it."""
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {key: str(ws.data / "cardinalities.npy")})
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, key)
    assert "its sidecar" in line and "data.cardinalities_path" in line


def test_two_outputs_never_resolve_to_one_file(ws, capsys):
    cmd = COMMANDS["extract"]
    argv = cmd.argv(ws, ws.out, {"train.output": "x.npy", "val.output": "./x.npy"})
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, "val.output")
    assert "same file as x.npy (train.output)" in line


def test_an_output_never_replaces_the_config(ws, capsys):
    """A config named cfg.json (YAML reads it) and a prediction cfg.npy: its sidecar would be
    the config."""
    cmd = COMMANDS["predict"]
    argv = cmd.argv(ws, ws.out, {"test.output": str(ws.root / "cfg.npy")})
    config = ws.config.rename(ws.root / "cfg.json")
    argv[-1] = config
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), config, "test.output")
    assert "would overwrite the input" in line and "(config)" in line


@pytest.mark.parametrize("command", ["sae report"])
def test_an_output_never_replaces_an_input_table(command, ws, capsys):
    """`sae report --table out/latents.csv --out out`: the report would replace its table."""
    import shutil

    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {})
    ws.out.mkdir()
    table = shutil.copy(ws.data / "train.csv", ws.out / "latents.csv")
    argv[argv.index("--table") + 1] = table
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), "command line", "--out")
    assert "would overwrite the input" in line and "(--table)" in line


@pytest.mark.parametrize("command", pick("train", "align train", "pretrain-mae"))
def test_a_run_never_rewrites_the_config_it_was_given(command, ws, capsys):
    """`--config <run>/config.yaml` (the run's own saved copy) on a run that did not finish:
    resuming would rewrite that config."""
    import json

    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {})
    rc, _, err = run(cmd, argv, capsys)
    assert rc == 0, err
    saved = next(ws.out.glob("*/config.yaml"))
    info = json.loads((saved.parent / "run.json").read_text())
    (saved.parent / "run.json").write_text(json.dumps({**info, "status": "running"}))
    argv[argv.index("--config") + 1] = saved
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), saved, "experiment.output_dir")
    assert "would overwrite the input" in line
