"""Config values refused at load, by every command that reads them: a tracking URI with
credentials (any scheme), a seed no RNG takes, an `imports` module that does not compile, a
loss that reads outputs the model does not give. One line naming the file and the key."""

from __future__ import annotations

import uuid

import pytest

from tests.boundary.harness import COMMANDS, assert_refused, before, pick, run

TRACKED = pick(
    "train", "align train", "pretrain-mae", "config validate", "flow train", "flow alignment"
)
URIS = [
    "postgresql://alice:s3cr3tpw@db.example/mlflow",
    "mysql+pymysql://alice:s3cr3tpw@db.example/mlflow",
    "https://alice:s3cr3tpw@mlflow.example",
    "file://alice:s3cr3tpw@host/srv/mlruns",
]


@pytest.mark.parametrize("uri", URIS)
@pytest.mark.parametrize("command", TRACKED)
def test_tracking_uri_with_credentials_is_refused(command, uri, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {"mlflow": {"tracking_uri": uri, "experiment_name": "x"}})
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, "mlflow.tracking_uri")
    assert "s3cr3tpw" not in line and "alice" not in line


SEEDED = pick(
    "train",
    "extract",
    "predict",
    "align train",
    "pretrain-mae",
    "config validate",
    "flow train",
    "flow alignment",
)


@pytest.mark.parametrize("command", SEEDED)
def test_seed_past_every_rng_is_refused_at_load(command, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {"global.seed": 99999999999999999999})
    state = before(ws)
    assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, "global.seed")


@pytest.mark.parametrize("command", pick("train", "align train", "pretrain-mae"))
def test_seed_flag_past_every_rng_is_refused(command, ws, capsys):
    cmd = COMMANDS[command]
    argv = [*cmd.argv(ws, ws.out, {}), "--seed", "99999999999999999999"]
    state = before(ws)
    assert_refused(ws, state, *run(cmd, argv, capsys), "command line", "--seed")


@pytest.mark.parametrize(
    "command", pick("train", "extract", "predict", "config validate", "flow train")
)
def test_imports_module_with_a_syntax_error(command, ws, capsys):
    name = f"broken_{uuid.uuid4().hex[:8]}"
    (ws.root / f"{name}.py").write_text("def oops(:\n    pass\n")
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {"imports": [name]})
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, "imports[0]")
    assert "syntax error" in line


@pytest.mark.parametrize(
    ("command", "changes", "key"),
    [
        ("train", {"train.loss": {"class": "SAELoss"}}, "train.loss.class"),
        ("train", {"val.loss": {"class": "SAELoss"}}, "val.loss.class"),
        ("config validate", {"train.loss": {"class": "SAELoss"}}, "train.loss.class"),
        ("flow train", {"train.loss": {"class": "SAELoss"}}, "train.loss.class"),
        ("predict", {"test.metrics.loss": {"class": "SAELoss"}}, "test.metrics.loss.class"),
    ],
)
def test_loss_that_reads_outputs_the_model_lacks(command, changes, key, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, changes)
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, key)
    assert "SAELoss" in line and "VAE" in line
