"""Atomic writes, content hashes and an output-folder lock."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alchemi_core import faults
from alchemi_core.errors import RunStateError

_UMASK = os.umask(0o022)  # mkstemp makes 0600 files; outputs get 0666 & ~umask, as open() does
os.umask(_UMASK)


def current_umask() -> int:
    """The process umask, read without changing it (Linux); else the one seen at import."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return _UMASK


def temp_beside(target: Path, suffix: str = "") -> Path:
    """A new empty temp file in `target`'s folder (made if missing): `.<name>.<random>.tmp`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix + ".tmp")
    os.close(fd)
    return Path(tmp)


def seal(tmp: Path, target: Path) -> None:
    """fsync a finished temp file and give it the mode `target` has (or would get)."""
    faults.os_error("write", tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~current_umask()
    os.chmod(tmp, mode)


def publish(tmp: Path, target: Path) -> None:
    """Rename a sealed temp file into place and make the rename durable."""
    os.replace(tmp, target)
    fsync_dir(target.parent)


def naming(exc: OSError, tmp: Path | None, target: Path) -> OSError:
    """`exc` naming `target` when it names no file or only the temp file beside it."""
    if exc.filename in (None, "", str(tmp)):
        return type(exc)(exc.errno, exc.strerror or str(exc), str(target))
    return exc


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside `target`; on success fsync it and rename it into place.
    An OS error (full, read-only, ...) names `target`, and no temp file is left."""
    target = Path(target)
    tmp = None
    try:
        tmp = temp_beside(target, suffix)
        yield tmp
        seal(tmp, target)
        publish(tmp, target)
    except OSError as exc:
        raise naming(exc, tmp, target) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(target: str | Path, writer: Callable[[Path], Any], suffix: str = "") -> Path:
    with atomic_path(target, suffix) as tmp:
        writer(tmp)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    return atomic_write(target, lambda p: p.write_text(text))


def write_json(target: str | Path, obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the `.*.tmp` files a killed writer left under `folder` (call with its lock held)."""
    stale = [p for p in Path(folder).rglob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def hash_memo_dir() -> Path | None:
    """Where file hashes are memoised: $ALCHEMI_HASH_CACHE, else ~/.cache/alchemi/hashes
    ($XDG_CACHE_HOME honoured); ALCHEMI_HASH_CACHE=0 turns the memo off."""
    where = os.environ.get("ALCHEMI_HASH_CACHE")
    if where == "0":
        return None
    if where:
        return Path(where)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alchemi" / "hashes"


RACY_NS = 2_000_000_000  # a file changed this recently may change again within its mtime tick


def _memo_entry(path: str | Path, st: os.stat_result) -> Path | None:
    folder = hash_memo_dir()
    if folder is None:
        return None
    ident = f"{os.path.realpath(path)}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
    key = hashlib.sha256(ident.encode()).hexdigest()
    return folder / key[:2] / key


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised by (path, device, inode, size, mtime_ns).

    An unchanged file is not read again: the memo (one small file per entry, written
    atomically, so concurrent writers are safe) answers. Any write changes size or mtime and
    so misses; files modified in the last 2 s are never memoised (their mtime tick may not
    have passed yet)."""
    st = os.stat(path)
    entry = _memo_entry(path, st)
    if entry is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            digest = entry.read_text().strip()
            if len(digest) == 64:
                return digest
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    if entry is not None and time.time_ns() - st.st_mtime_ns > RACY_NS:
        with contextlib.suppress(OSError):
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".memo.", suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(digest)
            os.replace(tmp, entry)
    return digest


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_pid(fd: int) -> None:
    """Who holds the lock, for the error a second process shows."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)


class FolderLock:
    """An exclusive lock on `<folder>/.lock` (filelock: an flock the OS releases if the process
    dies); a second holder fails at once instead of waiting."""

    def __init__(self, folder: str | Path):
        from filelock import FileLock

        self.path = Path(folder) / ".lock"
        self._lock = FileLock(
            self.path,
            timeout=0,
            thread_local=False,
            preserve_lock_file=True,
            on_acquired=_write_pid,
        )
        self.created = False  # this process created the lock file

    def acquire(self) -> FolderLock:
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.created = not self.path.exists()
        try:
            self._lock.acquire()
        except Timeout:
            owner = self.path.read_text().strip() if self.path.exists() else ""
            raise RunStateError(
                f"in use by {owner or 'another process'}; wait for it to finish", self.path.parent
            ) from None
        except OSError as exc:  # the pid write on a full disk names no file: name the lock
            raise naming(exc, None, self.path) from None
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
