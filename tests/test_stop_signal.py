"""Ctrl-C or SIGTERM stops a training at its next checkpoint, for `alchemi train` and a flow
(whose training runs on a Prefect worker thread: it went on until SIGKILL); one line says how
to resume, exit 128 + the signal; a re-run resumes from that checkpoint and finishes. A second
signal exits at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from alchemi_core.run import checkpoints
from tests.conftest import ROOT, debug_config_dict
from tests.reliability_helpers import subprocess_env

EPOCHS = 6
COMMANDS = {
    "alchemi train": ["-m", "alchemi_core.cli", "train", "--config"],
    "flows/train.py": [str(ROOT / "flows/train.py"), "-q", "--json", "--config"],
}


def braked_config(tmp_path, penguins_dir, sleep: float):
    """The debug VAE over EPOCHS epochs, each training batch `sleep` s while `brake` exists."""
    brake = tmp_path / "brake"
    brake.touch()
    loss = {"class": "FailpointVAELoss", "params": {"sleep": sleep, "slow_while": str(brake)}}
    changes = {"imports": ["tests.fault_losses"], "train__epochs": EPOCHS, "train__loss": loss}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(debug_config_dict(penguins_dir, tmp_path / "out", **changes)))
    return path, brake, tmp_path / "out" / "debug"


def start(command: str, cfg, tmp_path) -> subprocess.Popen:
    """The command in its own process group, as a terminal runs it (Ctrl-C: the group)."""
    env = subprocess_env({"PREFECT_HOME": str(tmp_path / ".prefect")})
    env.pop("PREFECT_API_URL", None)  # the flow's temporary API, in its own session
    return subprocess.Popen(
        [sys.executable, *COMMANDS[command], str(cfg)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def epochs_logged(run_dir) -> list[int]:
    path = run_dir / "metrics.jsonl"
    text = path.read_text() if path.exists() else ""
    return [json.loads(line)["epoch"] for line in text.splitlines() if line.strip()]


def wait_for_first_epoch(proc: subprocess.Popen, run_dir, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not epochs_logged(run_dir):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"no epoch logged (exit {proc.returncode}): {err[-2000:]}")
        time.sleep(0.05)


def finish(proc: subprocess.Popen, seconds: float) -> tuple[str, str]:
    """Stdout and stderr once `proc` exits (killed, and failed, after `seconds`)."""
    try:
        return proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"still running {seconds} s after the signal: {err[-2000:]}")


@pytest.mark.parametrize(
    ("command", "sig"),
    [
        ("alchemi train", signal.SIGINT),
        pytest.param("flows/train.py", signal.SIGTERM, marks=pytest.mark.slow),  # Prefect: ~1 min
    ],
)
def test_a_signal_stops_at_the_next_checkpoint_and_the_rerun_resumes(
    command, sig, tmp_path, penguins_dir
):
    cfg, brake, run_dir = braked_config(tmp_path, penguins_dir, sleep=0.2)  # 1 s an epoch
    proc = start(command, cfg, tmp_path)
    wait_for_first_epoch(proc, run_dir)
    os.killpg(proc.pid, sig)  # the whole group, as a terminal's Ctrl-C
    brake.unlink()  # the epoch in flight ends quickly
    _, err = finish(proc, 60)
    assert proc.returncode == 128 + sig, err
    lines = [line for line in err.splitlines() if line.strip()]
    stopped = [line for line in lines if line.startswith("stopped on")]
    assert len(stopped) == 1, err
    at = epochs_logged(run_dir)[-1]
    assert at < EPOCHS  # stopped early, not finished
    name = signal.Signals(sig).name
    assert stopped[0] == (
        f"stopped on {name} after epoch {at} of {EPOCHS}; run the same command again to resume"
    )
    assert epochs_logged(run_dir) == list(range(1, at + 1))
    ckpt = checkpoints.newest_intact(run_dir)[1]
    assert ckpt is not None and ckpt["epoch"] == at  # the stop waited for its checkpoint
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    assert "Traceback" not in err

    again = start(command, cfg, tmp_path)
    out, err = finish(again, 300)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result.get("train", result)["resumed_from_epoch"] == at
    assert epochs_logged(run_dir) == list(range(1, EPOCHS + 1))
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_loader_workers_leave_the_stop_to_the_run(tmp_path, penguins_dir):
    """Ctrl-C reaches the DataLoader workers too (one process group): one stop, said once."""
    cfg, brake, run_dir = braked_config(tmp_path, penguins_dir, sleep=0.2)
    data = yaml.safe_load(cfg.read_text())
    for split in ("train", "val"):
        data[split]["loader_params"]["num_workers"] = 2
    cfg.write_text(yaml.safe_dump(data))
    proc = start("alchemi train", cfg, tmp_path)
    wait_for_first_epoch(proc, run_dir)
    os.killpg(proc.pid, signal.SIGINT)
    brake.unlink()
    _, err = finish(proc, 60)
    assert proc.returncode == 130, err
    assert err.count("SIGINT: stopping after the current epoch's checkpoint") == 1, err
    assert epochs_logged(run_dir)[-1] < EPOCHS and "Traceback" not in err


def test_a_second_signal_exits_at_once(tmp_path, penguins_dir):
    """Ctrl-C twice: no wait for the epoch in flight (10 s here); the last checkpoint kept."""
    cfg, _, run_dir = braked_config(tmp_path, penguins_dir, sleep=2.0)
    proc = start("alchemi train", cfg, tmp_path)
    wait_for_first_epoch(proc, run_dir)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = finish(proc, 8)
    assert proc.returncode == 130, err
    assert "stopped at once; the run resumes from its last checkpoint" in err
    assert epochs_logged(run_dir) == [1]
    assert checkpoints.newest_intact(run_dir)[1]["epoch"] == 1


@pytest.mark.parametrize("command", ["train", "align train", "pretrain-mae"])
def test_every_stack_stops_at_its_checkpoint(command, tmp_path, penguins_dir, capsys, monkeypatch):
    """In this process, a stop asked after the first epoch's writes are handed over: the one
    runner waits for them, stops with exit 130, and the same command resumes from there."""
    from alchemi_core.run import session, stop
    from tests.preflight.workspace import make_workspace

    ws = make_workspace(tmp_path / "ws", penguins_dir, capsys)
    monkeypatch.chdir(ws.root)
    real = session.Session.on_epoch_end

    def ask_once(self, epoch, lines):
        early = real(self, epoch, lines)
        if stop.requested() is None:
            stop.handle(signal.SIGINT)  # as the first Ctrl-C would
        return early

    monkeypatch.setattr(session.Session, "on_epoch_end", ask_once)
    res = ws.run(command)
    assert res.code == 130, res.err[-2000:]
    line = res.err.strip().splitlines()[-1]
    assert line.startswith("stopped on SIGINT after ") and line.endswith("again to resume")
    monkeypatch.setattr(session.Session, "on_epoch_end", real)
    run_dir = next(p.parent for p in ws.root.glob("experiments/**/run.json"))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "stopped"
    ckpt = checkpoints.newest_intact(run_dir)[1]
    assert ckpt is not None and f" {ckpt['epoch']} of " in line  # stopped at its checkpoint
    again = ws.run(command)
    assert again.code == 0, again.err[-2000:]
    if command != "pretrain-mae":  # which prints a table
        assert json.loads(again.out)["resumed_from_epoch"] == ckpt["epoch"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
