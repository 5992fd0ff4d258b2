"""The one error boundary of every command and flow.

`guard(command, source=..., verbose=...)` runs a command and returns its exit code:
  - a UserError -> `error: <file>: <key or column>: <what>` on stderr, exit 2
  - an OS error on a file (missing, unwritable, read-only, full, a folder where a file belongs,
    a file where a folder belongs, a name too long) -> the same line naming that file, exit 2
  - any other exception (a bug) -> one line naming the command's file, exit 1; the
    traceback only with -v
  - a stop on request at a checkpoint (run/stop.py) -> its line, exit 128 + the signal
Every line is scrubbed of secrets. The output policy (outputs.py) raises UserErrors too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from alchemi_core.errors import AlchemiError, UserError
from alchemi_core.run.stop import StopRequested
from alchemi_core.secrets import scrub

# errno -> what it means for the user's file (every one a mistake they can fix).
OS_PROBLEMS = {
    errno.ENOENT: "not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EISDIR: "is a folder where a file belongs",
    errno.ENOTDIR: "a part of the path is a file where a folder belongs",
    errno.ENAMETOOLONG: "file name too long",
    errno.EEXIST: "already exists",
    errno.ENOTEMPTY: "folder is not empty",
    errno.ELOOP: "too many symbolic links",
    errno.EXDEV: "cannot move across file systems",
}


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from (`raise ... from`), not mere context."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__


def os_user_error(exc: OSError, file: str | None = None, key: str | None = None) -> UserError:
    """An OSError as the user's mistake: the file it names (else `file`) and what is wrong."""
    what = OS_PROBLEMS.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
    where = exc.filename if exc.filename not in (None, "") else file
    if isinstance(where, bytes):
        where = where.decode(errors="replace")
    return UserError(what, where, key)


def as_user_error(exc: BaseException) -> UserError | None:
    """The user's mistake behind `exc`, or None when it is not one (a bug)."""
    for e in causes(exc):
        if isinstance(e, UserError):
            return e
        if isinstance(e, OSError) and e.errno in OS_PROBLEMS:
            return os_user_error(e)
    return None


def _under(path: str, folder: str | Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


@contextlib.contextmanager
def writing_under(folder: str | Path, source: str | None, key: str) -> Iterator[None]:
    """OS errors on files under `folder` (a run's output_dir) as UserErrors at `key` of
    `source`: `error: cfg.yaml: experiment.output_dir: <file>: no space left on the device`."""
    try:
        yield
    except OSError as exc:
        name = exc.filename
        if exc.errno not in OS_PROBLEMS or not isinstance(name, str) or not _under(name, folder):
            raise
        raise UserError(f"{name}: {os_user_error(exc).message}", source, key) from None


def one_line(text: str) -> str:
    return " ".join(scrub(text).split())


def report(exc: BaseException, source: str | None = None, verbose: bool = False) -> int:
    """Print the one line for `exc` on stderr; its exit code (2 user, 1 bug or failure)."""
    user = as_user_error(exc)
    if user is not None:
        others = user.others
        if user.file is None and source:
            user = UserError(user.message, source, user.key)
        print(f"error: {one_line(user.line())}", file=sys.stderr)
        if verbose:  # every further problem found with this one
            for other in others:
                print(f"  also: {one_line(other)}", file=sys.stderr)
        return 2
    if isinstance(exc, AlchemiError):  # a failure alchemi names itself (diverged, transient)
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    if verbose:
        print(scrub("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
    what = one_line(f"{type(exc).__name__}: {exc}")[:300]
    where = f"{source}: " if source else ""
    print(f"error: {where}internal error ({what}); -v shows the traceback", file=sys.stderr)
    return 1


def guard(
    command: Callable[[], int | None],
    source: str | Callable[[], str | None] | None = None,
    verbose: bool = False,
) -> int:
    """Run `command`; its exit code, or the code of the one line printed for its exception.
    `source` (or a callable giving it) is the file named when an error names none."""
    try:
        return command() or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - this is the boundary
        stopped = next((e for e in causes(exc) if isinstance(e, StopRequested)), None)
        if stopped is not None:  # at a checkpoint, on request (run/stop.py): 130 or 143
            print(one_line(str(stopped)), file=sys.stderr)
            return stopped.code
        return report(exc, source() if callable(source) else source, verbose)
