"""Error types. A UserError is the user's to fix: the CLI prints it as one line and exits 2."""

from __future__ import annotations


class AlchemiError(Exception):
    """Base class for every error alchemi raises on purpose."""


class UserError(AlchemiError):
    """Bad config, data, checkpoint or arguments: `error: <file>: <key>: <what is wrong>`."""

    def __init__(self, message: str, file: str | None = None, key: str | None = None):
        self.file = str(file) if file is not None else None
        self.key = key
        self.message = message
        self.others: list[str] = []  # further problems found with this one (printed with -v)
        super().__init__(self.line())

    def line(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        return ": ".join([*parts, self.message])


class ConfigError(UserError):
    pass


class DataError(UserError):
    pass


class CheckpointError(UserError):
    pass


class RunStateError(UserError):
    """The output folder holds a run that conflicts with this one, or another process owns it."""


class TrainingDiverged(UserError):
    """A NaN or infinite loss or learning rate, naming the step: one line and exit 2 for every
    stack; not retried, the last good checkpoint is kept."""


class TransientError(AlchemiError):
    """A failure worth retrying (I/O, out-of-memory, an unreachable tracking server)."""
