"""The one output policy: every file a command writes is planned before any work, then written
all-or-nothing.

  plan = OutputPlan(source, inputs={"data.cardinalities_path": path, ...})
  plan.add(path, "test.output", sidecar=True)   # refused at once, naming source and key, when
      the path (or its sidecar) is an existing folder or not a regular file, sits under a file,
      has a name too long, would overwrite an input of this command, or is (after resolving)
      the same file as another output of it
  with plan:                                     # temp files beside each target; renamed into
      plan.write(path, writer)                   # place together when the block ends; on any
                                                 # error none is, and folders it made go too
A sidecar (`<output stem>.json`) is written next to its own output and nowhere else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alchemi_core.boundary import os_user_error
from alchemi_core.errors import UserError
from alchemi_core.io import naming, publish, seal, temp_beside

NAME_MAX = 255  # bytes in one path component on common file systems


def sidecar_path(output: str | Path) -> Path:
    """The JSON sidecar of an output file: beside it, same stem."""
    return Path(output).with_suffix(".json")


def resolved(path: str | Path) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


class OutputPlan:
    def __init__(self, source: str | None, inputs: dict[str, Any] | None = None):
        self.source = source
        self.inputs: dict[str, tuple[str, str]] = {}  # resolved path -> (key, as given)
        self.outputs: dict[str, tuple[str, Path]] = {}  # resolved path -> (key, target)
        self.staged: list[tuple[Path, Path]] = []  # (temp file, target)
        self.made: list[Path] = []  # folders this plan created, outermost first
        for key, path in (inputs or {}).items():
            self.add_input(path, key)

    def error(self, what: str, key: str) -> UserError:
        return UserError(what, self.source, key)

    def add_input(self, path: str | Path | None, key: str) -> None:
        if path:
            self.inputs.setdefault(resolved(path), (key, str(path)))

    def add(self, path: str | Path, key: str, sidecar: bool = False) -> Path:
        """Plan output `path` (and its sidecar); a UserError at `key` if the policy refuses it."""
        target = Path(path)
        self._check(target, key, "")
        if sidecar:
            self._check(sidecar_path(target), key, "its sidecar ")
        return target

    def _check(self, target: Path, key: str, what: str) -> None:
        name = f"{what}{target}"
        too_long = [p for p in target.parts if len(os.fsencode(p)) > NAME_MAX]
        if too_long:
            raise self.error(f"{name}: a name in it is longer than {NAME_MAX} bytes", key)
        if target.is_dir():
            raise self.error(f"{name} is an existing folder, not a file", key)
        if target.exists() and not target.is_file():
            raise self.error(f"{name} exists and is not a regular file", key)
        parent = next((p for p in target.parents if p.exists()), Path("."))
        if not parent.is_dir():
            raise self.error(f"{name}: {parent} is a file, not a folder", key)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise self.error(f"{name}: cannot write in {parent}", key)
        real = resolved(target)
        if real in self.inputs:
            in_key, given = self.inputs[real]
            raise self.error(f"{name} would overwrite the input {given} ({in_key})", key)
        if real in self.outputs:
            other_key, other = self.outputs[real]
            raise self.error(f"{name} is the same file as {other} ({other_key})", key)
        self.outputs[real] = (key, target)

    # -- writing -------------------------------------------------------------------------
    def write(self, path: str | Path, writer: Callable[[Path], Any]) -> Path:
        """Write a planned output to a temp file beside it (renamed when the plan commits);
        the temp path, whose bytes the output will hold."""
        target = Path(path)
        entry = self.outputs.get(resolved(target))
        if entry is None:
            raise ValueError(f"{target} was not planned")  # a bug of the caller
        tmp = None
        try:
            self._make_parents(target)
            tmp = temp_beside(target)
            self.staged.append((tmp, target))
            writer(tmp)
            seal(tmp, target)
        except OSError as exc:
            exc = naming(exc, tmp, target)
            raise self.error(f"{exc.filename}: {_problem(exc)}", entry[0]) from None
        return tmp

    def write_json(self, path: str | Path, obj: Any) -> Path:
        text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
        return self.write(path, lambda p: p.write_text(text))

    def _make_parents(self, target: Path) -> None:
        missing = [p for p in target.parents if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir()
            self.made.append(folder)

    def commit(self) -> None:
        for tmp, target in self.staged:
            try:
                publish(tmp, target)
            except OSError as exc:
                key = self.outputs[resolved(target)][0]
                raise self.error(f"{target}: {_problem(exc)}", key) from None
        self.staged, self.made = [], []

    def discard(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)
        self.staged = []
        for folder in reversed(self.made):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: something else wrote there meanwhile
        self.made = []

    def __enter__(self) -> OutputPlan:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            try:
                self.commit()
            finally:
                self.discard()
        else:
            self.discard()


def _problem(exc: OSError) -> str:
    return os_user_error(exc).message
