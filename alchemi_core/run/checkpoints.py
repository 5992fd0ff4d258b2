"""Checkpoint files: written atomically, loaded with weights_only=True, resolved by strategy."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from alchemi_core import faults
from alchemi_core.errors import CheckpointError
from alchemi_core.io import fsync_dir

log = logging.getLogger("alchemi")

FORMAT = "alchemi-checkpoint/1"
EPOCH_RE = re.compile(r"^epoch_(\d+)$")
NAMES = {"best": "best_model.pt", "last": "last_model.pt"}


def save_many(payload: dict[str, Any], targets: list[Path]) -> None:
    """Serialize once, then hard-link the file into every target name atomically."""
    if not targets:
        return
    folder = targets[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ckpt.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                torch.save({"format": FORMAT, **payload}, fh)
            except RuntimeError as exc:  # torch hides a failed write ("unexpected pos ...")
                failure = write_failure(exc, folder, targets[0])
                if failure is exc:
                    raise
                raise failure from None
            faults.os_error("write", targets[0])
            fh.flush()
            os.fsync(fh.fileno())
        faults.point("checkpoint.tmp")
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            link = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            link.unlink(missing_ok=True)
            try:
                os.link(tmp, link)
            except OSError:  # file systems without hard links
                shutil.copyfile(tmp, link)
            os.replace(link, target)
            faults.point("checkpoint.link")
        for d in {t.parent for t in targets}:
            fsync_dir(d)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_failure(exc: RuntimeError, folder: Path, target: Path) -> Exception:
    """torch.save's RuntimeError as the OSError it hides when the disk is full, else as is."""
    try:
        full = shutil.disk_usage(folder).free < 1024 * 1024
    except OSError:
        full = False
    if full:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    return exc


def _reason(exc: Exception) -> str:
    """The gist of a torch.load failure (weights-only errors bury it mid-message)."""
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(\S.*)", text)
    line = found.group(1) if found else (text.splitlines()[0] if text else type(exc).__name__)
    return line[:160]


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, disallowed global, ...
        raise CheckpointError(f"corrupt or truncated checkpoint ({_reason(exc)})", path) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError("not an alchemi checkpoint", path)
    return ckpt


def require(ckpt: dict, path: str | Path, keys: dict[str, type]) -> None:
    """Each of `keys` present in `ckpt` with its type; else a CheckpointError naming the key."""
    for key, kind in keys.items():
        if key not in ckpt:
            raise CheckpointError("missing from the checkpoint", path, key)
        if not isinstance(ckpt[key], kind):
            name = getattr(kind, "__name__", str(kind))
            raise CheckpointError(f"should be a {name} in the checkpoint", path, key)


def resolve(path: str | Path, strategy: str = "best") -> Path:
    """A checkpoint file, or a run's checkpoints/ folder (or the run folder) plus a strategy."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError("checkpoint path not found", path)
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    m = EPOCH_RE.match(strategy)
    if strategy in NAMES:
        name = NAMES[strategy]
    elif m and int(m.group(1)) >= 1:
        name = f"epoch_{int(m.group(1))}.pt"
    else:
        raise CheckpointError(
            f"load_strategy {strategy!r}: use best, last or epoch_N (N >= 1)",
            path,
            "checkpoint.load_strategy",
        )
    target = folder / name
    if not target.is_file():
        have = sorted(p.name for p in folder.glob("*.pt")) or ["none"]
        raise CheckpointError(
            f"no {name} in {folder}; found: {', '.join(have)}", folder, "checkpoint.load_strategy"
        )
    return target


def candidates(run_dir: Path) -> list[Path]:
    files = list((run_dir / "checkpoints").glob("*.pt")) + list((run_dir / "state").glob("*.pt"))
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def newest_intact(run_dir: Path) -> tuple[Path, dict] | tuple[None, None]:
    """The intact checkpoint with the highest epoch (ties: newest file); corrupt ones skipped."""
    best: tuple[int, Path, dict] | None = None
    for path in candidates(run_dir):
        try:
            ckpt = load(path)
        except CheckpointError as exc:
            log.warning("skipping %s", exc)
            continue
        if "training" not in ckpt:
            continue
        if best is None or ckpt["epoch"] > best[0]:
            best = (ckpt["epoch"], path, ckpt)
    if best is None:
        return None, None
    return best[1], best[2]
