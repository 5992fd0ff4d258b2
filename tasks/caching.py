"""Cache keys that are right: step config + content of every input file + code version.

A task using `StepCache` declares `describe(params) -> (step_config, {role: input_path})`.
The key hashes the task name, the canonical JSON of the step config, the sha256 of each input
file (not its path: a changed byte is a new key, a moved unchanged file is not) and the code
version of alchemi_core and of tasks/. Records go to `ALCHEMI_CACHE_STORAGE` when it is set (a
folder every worker mounts, or a saved storage block such as an fsspec s3:// one), else to
Prefect's result storage; so workers that share the store share the cache. Every task returns {"outputs": {path: sha256}, ...}; a
cached record whose output files were deleted or altered is expired here, so it is a miss and
the task runs again instead of handing back paths that no longer hold what they held.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy

from alchemi_core import code_version
from alchemi_core.io import canonical_json, file_sha256, text_sha256

log = logging.getLogger("alchemi")
Describe = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]
MISSING = "missing"


@functools.cache
def tasks_version() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def shared_storage() -> Path | str | None:
    """The cache store named by ALCHEMI_CACHE_STORAGE: an absolute folder, or the slug of a
    storage block saved on the Prefect server (e.g. `remote-file-system/alchemi-cache` with an
    fsspec basepath such as s3://bucket/alchemi). Unset: Prefect's default result storage."""
    where = os.environ.get("ALCHEMI_CACHE_STORAGE", "").strip()
    if not where:
        return None
    if re.fullmatch(r"[a-z0-9-]+/[\w-]+", where):
        return where  # a block slug, loaded by Prefect
    return Path(where).expanduser().resolve()


def content_hash(path: str | Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return MISSING  # the task itself then fails with the clear error


def outputs(*paths: str | Path | None) -> dict[str, str]:
    """{path: sha256} of the files a task wrote (None entries skipped)."""
    return {str(p): file_sha256(p) for p in paths if p is not None}


def outputs_intact(value: Any) -> bool:
    try:
        outs = value["outputs"]
        return all(Path(p).is_file() and file_sha256(p) == h for p, h in outs.items())
    except Exception:
        return False


def step_key(task_name: str, config: dict, files: dict[str, str]) -> str:
    payload = {
        "task": task_name,
        "config": config,
        "inputs": {role: content_hash(p) for role, p in sorted(files.items()) if p},
        "code": code_version(),
        "tasks": tasks_version(),
    }
    return text_sha256(canonical_json(payload))


def expire_if_stale(store: Any, key: str) -> None:
    """Overwrite a record whose outputs are gone or changed with an expired one (= a miss)."""
    try:
        if store.exists(key) and not outputs_intact(store.read(key).result):
            log.warning("cached result %s: output files missing or changed; recomputing", key[:12])
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            store.write(obj=None, key=key, expiration=past)
    except Exception as exc:  # never let the check break a run; worst case the task re-runs
        log.warning("cache check for %s failed (%s); recomputing", key[:12], exc)
        store.write(obj=None, key=key, expiration=dt.datetime.now(dt.UTC))


@dataclass
class StepCache(CachePolicy):
    describe: Describe | None = None

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs) -> str | None:
        config, files = self.describe(inputs)
        key = step_key(task_ctx.task.name, config, files)
        if task_ctx.result_store is not None:
            expire_if_stale(task_ctx.result_store, key)
        return key


def data_files(cfg: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every `data_path` / `cardinalities_path` in a (nested) step config, by dotted key."""
    found: dict[str, str] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            found.update(data_files(v, f"{key}."))
        elif k in ("data_path", "cardinalities_path", "path") and isinstance(v, str):
            found[key] = v
    return found


def without_secrets(cfg: dict[str, Any]) -> dict[str, Any]:
    """The key never depends on (or holds) credentials."""
    if not isinstance(cfg.get("mlflow"), dict):
        return cfg
    return {**cfg, "mlflow": {k: v for k, v in cfg["mlflow"].items() if k != "credentials"}}
