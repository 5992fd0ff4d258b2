"""Exact resume, re-runs, config-change refusal, checkpoint fallback, the folder lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch
import yaml

from alchemi_core import api
from alchemi_core.errors import CheckpointError
from alchemi_core.io import FolderLock
from alchemi_core.run import checkpoints
from tests.conftest import debug_config_dict
from tests.reliability_helpers import (
    alchemi,
    assert_same_state,
    mlflow_run,
    run_cli,
    subprocess_env,
)

# A run whose every piece of state matters: shuffling, a StepLR schedule, Adam, early stopping
# (min_delta so large that only epoch 1 counts as improvement: it stops after epoch 5 of 8).
STATEFUL = {
    "imports": ["tests.fault_losses"],
    "train__epochs": 8,
    "train__scheduler": {"name": "StepLR", "step_size": 2, "gamma": 0.5},
    "train__loss": {"class": "FailpointVAELoss", "params": {"beta": 1.0}},
    "val__early_stopping": {
        "patience": 4,
        "metric": "val_loss",
        "direction": "min",
        "min_delta": 1.0e9,
    },
    "checkpoint__save_strategy": "all",
}


def final_state(run_dir):
    ckpt = checkpoints.load(run_dir / "checkpoints" / "last_model.pt")
    return {k: ckpt[k] for k in ("model_state", "optimizer_state", "scheduler_state", "epoch")}


def metric_rows(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("epoch_seconds")
    return rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory, penguins_dir):
    """The uninterrupted run of STATEFUL (in this process)."""
    out = tmp_path_factory.mktemp("reference")
    cfg = out / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, out / "out", **STATEFUL)))
    result = api.train(cfg)
    assert result.status == "finished" and result.epochs_run == 5  # early stopping at 5
    run_dir = out / "out" / "debug"
    return final_state(run_dir), metric_rows(run_dir)


def test_rerun_of_finished_run_does_nothing_and_says_so(write_config, capsys, tmp_path):
    cfg = write_config()
    assert run_cli(["train", "--config", cfg], capsys)[0] == 0
    run_dir = tmp_path / "out" / "debug"
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 0 and json.loads(out)["status"] == "already_finished"
    assert "already finished" in err and "nothing to do" in err
    after = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != ".lock"} == {
        p: t for p, t in before.items() if p.name != ".lock"
    }


def test_other_config_in_same_folder_refused_unless_overwrite(write_config, capsys, tmp_path):
    cfg = write_config()
    assert run_cli(["train", "--config", cfg], capsys)[0] == 0
    rc, out, err = run_cli(["train", "--config", cfg, "--set", "train.epochs=2"], capsys)
    run_dir = tmp_path / "out" / "debug"
    assert rc == 2 and out == ""
    assert err.splitlines() == [
        f"error: {run_dir}: experiment.name: holds a run of a different config or data; "
        "give this run its own name (--set experiment.name=<new name>, or edit the file), "
        "or pass --overwrite to delete it"
    ]
    assert final_state(run_dir)["epoch"] == 3  # untouched
    # the first suggestion: a run of its own beside the other one
    args = ["train", "--config", cfg, "--set", "train.epochs=2", "--set", "experiment.name=mine"]
    assert run_cli(args, capsys)[0] == 0 and final_state(run_dir)["epoch"] == 3
    args = ["train", "--config", cfg, "--set", "train.epochs=2", "--overwrite"]
    rc, out, _ = run_cli(args, capsys)
    assert rc == 0 and json.loads(out)["epochs_run"] == 2
    assert final_state(run_dir)["epoch"] == 2
    assert [r["epoch"] for r in metric_rows(run_dir)] == [1, 2]


def test_resume_falls_back_to_newest_intact_checkpoint(
    tmp_path, penguins_dir, reference, capsys, caplog
):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "out", **STATEFUL)))
    assert run_cli(["train", "--config", cfg], capsys)[0] == 0
    run_dir = tmp_path / "out" / "debug"
    # Pretend it crashed after epoch 5 while the newest files were being damaged.
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "status": "running"}))
    for name in ("last_model.pt", "epoch_5.pt", "epoch_4.pt"):
        path = run_dir / "checkpoints" / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 0, err
    assert json.loads(out)["resumed_from_epoch"] == 3
    assert "epoch_3.pt (epoch 3 of 8)" in err and "skipping" in err
    state, rows = reference
    assert_same_state(final_state(run_dir), state)
    assert metric_rows(run_dir) == rows


def test_truncated_checkpoint_is_one_line_error_naming_file(tmp_path, write_config, capsys):
    assert run_cli(["train", "--config", write_config()], capsys)[0] == 0
    path = tmp_path / "out" / "debug" / "checkpoints" / "last_model.pt"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as e:
        checkpoints.load(bad)
    assert len(str(e.value).splitlines()) == 1
    assert str(e.value).startswith(f"{bad}: corrupt or truncated checkpoint")


def test_checkpoint_with_arbitrary_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    arbitrary = __import__("argparse").Namespace(x=1)  # any class weights_only does not allow
    torch.save({"format": checkpoints.FORMAT, "payload": arbitrary}, path)
    with pytest.raises(CheckpointError, match="corrupt or truncated checkpoint") as e:
        checkpoints.load(path)
    assert str(e.value).startswith(str(path))


def test_locked_folder_refused_in_process(write_config, tmp_path, capsys):
    run_dir = tmp_path / "out" / "debug"
    with FolderLock(run_dir):
        rc, out, err = run_cli(["train", "--config", write_config()], capsys)
    assert rc == 2
    assert err.splitlines() == [
        f"error: {run_dir}: in use by pid {__import__('os').getpid()}; wait for it to finish"
    ]
    assert [p.name for p in run_dir.iterdir()] == [".lock"]


def test_resume_continues_the_same_mlflow_run(tmp_path, penguins_dir, mlflow_uri, capsys):
    changes = dict(STATEFUL, mlflow={"tracking_uri": mlflow_uri, "experiment_name": "resume"})
    changes["imports"] = ["tests.fault_losses"]
    changes["train__loss"] = {"class": "NaNAtVAELoss", "params": {"nan_at": 13}}
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "out", **changes)))
    rc, _, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 2 and "at epoch 3, batch 3" in err
    run_dir = tmp_path / "out" / "debug"
    run_id = json.loads((run_dir / "run.json").read_text())["mlflow_run_id"]
    client, run = mlflow_run(mlflow_uri, run_id)
    assert run.info.status == "FAILED"
    # The same config again resumes from epoch 2 in the same MLflow run (the NaN counter
    # restarts in the new process, so it gets further this time).
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 2 and json.loads((run_dir / "run.json").read_text())["mlflow_run_id"] == run_id
    assert "epoch 5, batch 3" in err
    client, run = mlflow_run(mlflow_uri, run_id)
    steps = [m.step for m in client.get_metric_history(run_id, "train_loss")]
    assert steps == [1, 2, 3, 4]
    assert run.info.status == "FAILED"


@pytest.mark.slow
def test_sigkill_at_five_points_then_resume_is_bit_identical(
    tmp_path, penguins_dir, reference, mlflow_uri, capsys
):
    """Kill a real `alchemi train` at 5 places in a row; the 6th start (in this process: only
    the killed ones need a process of their own) finishes the run."""
    changes = dict(STATEFUL, mlflow={"tracking_uri": mlflow_uri, "experiment_name": "kill"})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "out", **changes)))
    run_dir = tmp_path / "out" / "debug"
    ckpt_dir = run_dir / "checkpoints"
    kills = [
        ("batch:8", 1),  # mid-epoch: epoch 2, batch 3
        ("checkpoint.tmp:1", 1),  # epoch 2's checkpoint written to its temp file, not renamed
        ("checkpoint.link:1", 2),  # last_model.pt renamed in, epoch_2.pt not yet
        ("epoch.saved:2", 4),  # epoch 4 saved, run.json and MLflow not yet told
        ("epoch.saved:1", 5),  # early stop at 5 saved, the run not yet marked finished
    ]
    run_ids = set()
    for failpoint, ckpt_epoch in kills:
        p = alchemi(["train", "--config", cfg], tmp_path, {"ALCHEMI_FAILPOINT": failpoint})
        assert p.returncode == -9, f"{failpoint} was not reached: {p.stderr[-2000:]}"
        newest = checkpoints.newest_intact(run_dir)[1]
        assert newest["epoch"] == ckpt_epoch, failpoint
        run_ids.add(json.loads((run_dir / "run.json").read_text()).get("mlflow_run_id"))
        if failpoint == "checkpoint.tmp:1":
            assert list(ckpt_dir.glob(".*.tmp")), "the kill should leave a temp file"
        if failpoint == "checkpoint.link:1":
            assert not (ckpt_dir / "epoch_2.pt").exists()
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 0, err
    result = json.loads(out)
    assert result["resumed_from_epoch"] == 5 and result["epochs_run"] == 5
    assert "resuming" in err and "(epoch 5 of 8)" in err
    assert not list(run_dir.rglob(".*.tmp"))
    state, rows = reference
    assert_same_state(final_state(run_dir), state)
    assert metric_rows(run_dir) == rows
    # One MLflow run all along, every epoch's metrics in it, marked finished.
    run_ids.add(result["mlflow_run_id"])
    assert len(run_ids - {None}) == 1
    client, run = mlflow_run(mlflow_uri, result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    steps = sorted({m.step for m in client.get_metric_history(run.info.run_id, "val_loss")})
    assert steps == [1, 2, 3, 4, 5]
    rc, out, err = run_cli(["train", "--config", cfg], capsys)
    assert rc == 0 and json.loads(out)["status"] == "already_finished"
    assert "already finished" in err


@pytest.mark.slow
def test_second_process_on_same_folder_gets_clear_error(tmp_path, penguins_dir):
    changes = {
        "imports": ["tests.fault_losses"],
        "train__epochs": 400,
        "train__loss": {"class": "FailpointVAELoss", "params": {"sleep": 0.01}},
    }
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "out", **changes)))
    run_dir = tmp_path / "out" / "debug"
    first = subprocess.Popen(
        [sys.executable, "-m", "alchemi_core.cli", "train", "--config", str(cfg)],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "metrics.jsonl").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        second = alchemi(["train", "--config", cfg], tmp_path)
        assert first.poll() is None, "the first process should still be training"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert second.stderr.splitlines() == [
        f"error: {run_dir}: in use by pid {first.pid}; wait for it to finish"
    ]
    assert checkpoints.newest_intact(run_dir)[1] is not None
