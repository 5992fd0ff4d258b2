"""A run's folder on disk, and every file in it.

Layout ({output_dir}/{name}/):
  config.yaml            resolved config, secrets redacted
  run.json               config hash, status, last epoch, tracker run id, checkpoint hashes
  metrics.jsonl          one JSON line per epoch (rewritten atomically each epoch)
  checkpoints/           best_model.pt, last_model.pt, epoch_N.pt (per save_strategy)
  state/resume.pt        the resume point when save_strategy is "best"

Nothing here knows what is trained: any trainer can keep its run in a RunFolder.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from alchemi_core.io import FolderLock, file_sha256, remove_temp_files, write_json, write_text

KEPT_ON_RESTART = ("mlflow_run_id", "created")  # run.json keys a restart from scratch keeps


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The epochs in metrics.jsonl (a torn or foreign line ends the list)."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
                int(row["epoch"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                break
            rows.append(row)
    return rows


def read_run_json(run_dir: str | Path) -> dict | None:
    """run.json, None when absent, a stub with no config hash when unreadable."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"config_hash": None, "status": "unknown"}


class RunFolder:
    """Paths and files of one run. `info` is run.json as this process last wrote or read it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.ckpt_dir = self.path / "checkpoints"
        self.info: dict[str, Any] = {}
        self.lock = FolderLock(self.path)

    # -- the folder ---------------------------------------------------------------------
    @contextmanager
    def claimed(self) -> Iterator[RunFolder]:
        """Hold the folder's lock; a failure before run.json exists leaves no trace behind."""
        created = self.path  # the outermost folder this call creates, if any
        while not created.parent.exists():
            created = created.parent
        created = None if created.exists() else created
        self.lock.acquire()  # before anything else: a second process on this folder stops here
        try:
            yield self
        except BaseException:
            if not (self.path / "run.json").exists():
                if created is not None:
                    shutil.rmtree(created, ignore_errors=True)
                elif self.lock.created:
                    self.lock.path.unlink(missing_ok=True)
            raise
        finally:
            self.lock.release()

    def is_empty(self) -> bool:
        return not self.path.exists() or all(p.name == ".lock" for p in self.path.iterdir())

    def clear(self) -> None:
        """Delete everything but the lock; run.json's info keeps only KEPT_ON_RESTART."""
        for child in self.path.iterdir():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.info = {k: v for k, v in self.info.items() if k in KEPT_ON_RESTART}

    def remove_temp_files(self) -> list[Path]:
        return remove_temp_files(self.path)

    # -- run.json, config.yaml, metrics.jsonl -------------------------------------------
    def read_info(self) -> dict | None:
        return read_run_json(self.path)

    def write_info(self, **updates: Any) -> None:
        self.info.update(updates, updated=now())
        write_json(self.path / "run.json", self.info)

    def write_config(self, resolved: dict) -> None:
        write_text(self.path / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))

    def read_metrics(self) -> list[dict]:
        return read_metrics(self.path)

    def write_metrics(self, rows: list[dict]) -> None:
        write_text(self.path / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in rows))

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint_targets(self, strategy: str, epoch: int, improved: bool | None) -> list[Path]:
        """Where an epoch's checkpoint goes under save_strategy last | best | best_and_last |
        all."""
        targets = []
        if strategy in ("last", "best_and_last", "all"):
            targets.append(self.ckpt_dir / "last_model.pt")
        if strategy == "all":
            targets.append(self.ckpt_dir / f"epoch_{epoch}.pt")
        if strategy in ("best", "best_and_last", "all") and improved:
            targets.append(self.ckpt_dir / "best_model.pt")
        if strategy == "best":
            targets.append(self.path / "state" / "resume.pt")
        return targets

    def best_checkpoint(self) -> Path | None:
        path = self.ckpt_dir / "best_model.pt"
        return path if path.exists() else None

    def last_checkpoint(self) -> Path | None:
        path = self.ckpt_dir / "last_model.pt"
        return path if path.exists() else None

    def checkpoint_hashes(self) -> dict[str, str]:
        """{relative path: sha256} of every checkpoint, recorded in run.json at the end."""
        return {
            str(p.relative_to(self.path)): file_sha256(p)
            for p in sorted(self.ckpt_dir.glob("*.pt"))
        }

    def changed_checkpoints(self) -> list[str]:
        """Checkpoints recorded when the run finished that are now missing or altered."""
        changed = []
        for rel, digest in (self.info.get("checkpoints") or {}).items():
            path = self.path / rel
            if not path.is_file() or file_sha256(path) != digest:
                changed.append(str(path))
        return changed
