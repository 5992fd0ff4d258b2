"""What to do with a run folder: start fresh, resume, reuse a finished run, or refuse.

empty or absent folder                   -> fresh
another config or data, or not a run     -> refuse (fresh after clearing, with overwrite)
same run, finished, checkpoints intact   -> finished (nothing to train)
same run, finished, a checkpoint altered -> refuse (fresh after clearing, with overwrite)
same run, unfinished, an intact ckpt     -> resume from the newest intact checkpoint
same run, unfinished, no intact ckpt     -> fresh (killed before its first checkpoint)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alchemi_core.errors import RunStateError
from alchemi_core.run import checkpoints
from alchemi_core.run.folder import RunFolder

log = logging.getLogger("alchemi")

FRESH, RESUME, FINISHED = "fresh", "resume", "finished"
NEW_NAME = "give this run its own name (--set experiment.name=<new name>, or edit the file)"


@dataclass
class Decision:
    state: str  # fresh | resume | finished
    checkpoint: dict | None = None  # the loaded checkpoint to resume from
    path: Path | None = None  # its file


def refuse(folder: RunFolder, what: str) -> RunStateError:
    return RunStateError(what, folder.path, "experiment.name")


def decide(folder: RunFolder, config_hash: str, overwrite: bool = False) -> Decision:
    """Read the folder (holding its lock) and decide; sets `folder.info` to the run.json kept.

    A refusal raises RunStateError; with `overwrite` the folder is cleared instead.
    """
    if folder.is_empty():
        return Decision(FRESH)
    info = folder.read_info()
    if info is None or info.get("config_hash") != config_hash:
        if not overwrite:
            what = "holds a run of a different config or data"
            if info is None:
                what = "is not empty and holds no alchemi run"
            raise refuse(folder, f"{what}; {NEW_NAME}, or pass --overwrite to delete it")
        folder.clear()
        return Decision(FRESH)
    folder.info = info
    if info.get("status") == "finished":
        changed = folder.changed_checkpoints()
        if not changed:
            return Decision(FINISHED)
        if not overwrite:
            raise refuse(
                folder,
                f"{changed[0]} changed since the run finished; pass --overwrite to train again",
            )
        log.info("%s changed since the run finished: training again", changed[0])
        folder.clear()
        return Decision(FRESH)
    path, ckpt = checkpoints.newest_intact(folder.path)
    if ckpt is None:  # killed before its first checkpoint: start again, same tracker run
        folder.clear()
        return Decision(FRESH)
    return Decision(RESUME, ckpt, path)
