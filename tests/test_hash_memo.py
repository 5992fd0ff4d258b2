"""file_sha256's memo: an unchanged file is not read again; any change is hashed afresh."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from alchemi_core import io


@pytest.fixture(autouse=True)
def memo(tmp_path, monkeypatch):
    folder = tmp_path / "memo"
    monkeypatch.setenv("ALCHEMI_HASH_CACHE", str(folder))
    return folder


def old_file(path, data: bytes, age_s: int = 60):
    path.write_bytes(data)
    st = path.stat()
    past = st.st_mtime_ns - age_s * 1_000_000_000
    os.utime(path, ns=(past, past))
    return path


def real(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def forge(path, digest: str) -> None:
    """Overwrite the memo entry of `path`: a later answer equal to `digest` came from the memo."""
    entry = io._memo_entry(path, os.stat(path))
    assert entry.exists()
    entry.write_text(digest)


def test_unchanged_file_is_answered_from_the_memo(tmp_path):
    f = old_file(tmp_path / "a.bin", b"x" * 1000)
    assert io.file_sha256(f) == real(f)
    forge(f, "f" * 64)
    assert io.file_sha256(f) == "f" * 64  # not re-read


def test_changed_content_same_size_is_hashed_again(tmp_path):
    f = old_file(tmp_path / "a.bin", b"a" * 1000)
    first = io.file_sha256(f)
    old_file(f, b"b" * 1000, age_s=30)  # same size, a different mtime
    assert io.file_sha256(f) == real(f) != first


def test_touched_mtime_is_hashed_again(tmp_path):
    f = old_file(tmp_path / "a.bin", b"a" * 1000)
    io.file_sha256(f)
    forge(f, "f" * 64)
    os.utime(f)  # touched: same bytes, new mtime
    assert io.file_sha256(f) == real(f)


def test_replaced_file_same_size_and_mtime_is_hashed_again(tmp_path):
    f = old_file(tmp_path / "a.bin", b"a" * 1000)
    st = f.stat()
    io.file_sha256(f)
    g = tmp_path / "b.bin"
    g.write_bytes(b"b" * 1000)
    os.utime(g, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(g, f)  # another inode under the same name, same size and mtime
    assert io.file_sha256(f) == real(f)


def test_recently_written_files_are_not_memoised(tmp_path, memo):
    f = tmp_path / "fresh.bin"
    f.write_bytes(b"new")
    assert io.file_sha256(f) == real(f)
    assert not memo.exists() or not any(memo.rglob("*"))


def test_memo_off_and_unwritable_memo_still_hash(tmp_path, monkeypatch):
    f = old_file(tmp_path / "a.bin", b"z" * 10)
    monkeypatch.setenv("ALCHEMI_HASH_CACHE", "0")
    assert io.file_sha256(f) == real(f)
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("ALCHEMI_HASH_CACHE", str(blocker / "memo"))
    assert io.file_sha256(f) == real(f)


def test_concurrent_writers_leave_a_valid_entry(tmp_path):
    files = [old_file(tmp_path / f"{i}.bin", bytes([i]) * 5000) for i in range(4)]
    errors = []

    def work():
        try:
            for _ in range(20):
                for f in files:
                    assert io.file_sha256(f) == real(f)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not list(tmp_path.rglob(".memo.*.tmp"))
