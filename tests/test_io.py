"""Atomic writes: the file lands whole, with the permissions a plain open() would give."""

import os
import stat

import pytest

from alchemi_core import io


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_gets_umask_mode_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        written = io.write_text(tmp_path / "atomic.txt", "x")
    finally:
        os.umask(old)
    assert _mode(written) == _mode(plain) == 0o640


def test_existing_file_keeps_its_mode(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("{}")
    os.chmod(target, 0o640)
    io.write_json(target, {"a": 1})
    assert _mode(target) == 0o640
    assert target.read_text().strip().startswith("{")


def test_failed_writer_leaves_nothing(tmp_path):
    def boom(path):
        path.write_text("half")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        io.atomic_write(tmp_path / "out.bin", boom)
    assert list(tmp_path.iterdir()) == []
