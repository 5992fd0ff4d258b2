"""File-system failures on a command's outputs, for every command that writes: a file where
the output folder belongs, a name too long, a folder it may not write in, a full disk and a
read-only one. One line naming the config (or the command line) and the key of the output
place, exit 2, nothing half-written and nothing of the user's changed."""

from __future__ import annotations

import uuid

import pytest

from tests.boundary.harness import COMMANDS, assert_refused, before, pick, run

WRITERS = pick(
    "train",
    "extract",
    "predict",
    "align train",
    "align extract",
    "align eval",
    "pretrain-mae",
    "prepare-data",
    "sae report",
)
PLACES = {
    "a file where a folder belongs": lambda ws: ws.data / "train.csv",
    "a name too long": lambda ws: ws.root / ("n" * 300),
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("command", [*WRITERS, "prepare-spectra"])
def test_output_place_refused(command, place, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, PLACES[place](ws), {})
    state = before(ws)
    assert_refused(ws, state, *run(cmd, argv, capsys), cmd.file or ws.config, cmd.out_key)


@pytest.mark.parametrize("command", WRITERS)
def test_output_place_not_writable(command, ws, capsys):
    """/sys refuses new files and folders even to root (EPERM, EACCES)."""
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, __import__("pathlib").Path(f"/sys/alchemi_{uuid.uuid4().hex[:8]}"), {})
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), cmd.file or ws.config, cmd.out_key)
    assert "permission denied" in line or "not permitted" in line


SLOW_WRITER = pytest.param("prepare-spectra", marks=pytest.mark.slow)  # ~10 s of work first


@pytest.mark.parametrize(
    ("errno", "what"), [(28, "no space left on the device"), (30, "read-only file system")]
)
@pytest.mark.parametrize("command", [*WRITERS, SLOW_WRITER])
def test_disk_full_or_read_only(command, errno, what, ws, capsys, monkeypatch):
    """Every atomic write fails as the OS would fail it (ALCHEMI_OSERROR, faults.py)."""
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {})
    state = before(ws)
    monkeypatch.setenv("ALCHEMI_OSERROR", f"write:{errno}")
    line = assert_refused(ws, state, *run(cmd, argv, capsys), cmd.file or ws.config, cmd.out_key)
    assert what in line


@pytest.mark.parametrize(
    "command", pick("train", "align train", "pretrain-mae", "config validate", "flow train")
)
def test_experiment_name_too_long(command, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {"experiment.name": "n" * 300})
    state = before(ws)
    assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, "experiment.name")


@pytest.fixture
def full_disk(ws):
    """A real full file system: a tiny tmpfs mounted in the workspace and filled up (needs
    root and CAP_SYS_ADMIN; skipped elsewhere). Unmounted at the end."""
    import subprocess

    mount = ws.root.parent / "full"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        mount.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    try:
        with open(mount / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError:
        pass
    yield mount
    subprocess.run(["umount", str(mount)], check=True)
    mount.rmdir()


@pytest.mark.parametrize("command", WRITERS)
def test_a_real_full_disk(command, ws, full_disk, capsys):
    """The same line on a file system that is really full (torch's checkpoint writer hides
    ENOSPC in a RuntimeError; the lock file's pid write names no file)."""
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, full_disk / "out", {})
    rc, _, err = run(cmd, argv, capsys)
    assert rc == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    prefix = f"error: {cmd.file or ws.config}: {cmd.out_key}: "
    assert err.startswith(prefix) and "no space left on the device" in err, err
    assert not list(full_disk.rglob("*.tmp"))
