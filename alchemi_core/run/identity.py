"""What makes a run the same run: the resolved config plus the content of every file it reads.

`input_files` is the one list of those files; the run id (`config_hash`) and the Prefect task
cache key (tasks/train.py) both hash it, so the two can never disagree on what a run depends on.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import TYPE_CHECKING

from alchemi_core.io import canonical_json, file_sha256, text_sha256
from alchemi_core.secrets import redact

if TYPE_CHECKING:  # no torch import: the task cache key is computed from this module
    from alchemi_core.runtime import Runtime


def input_files(cfg) -> dict[str, str]:
    """{key: path} of the files a training config reads: data, and its `imports` sources."""
    paths = {
        "train.data_path": cfg.train.data_path,
        "data.cardinalities_path": cfg.data.cardinalities_path,
    }
    if cfg.val:
        paths["val.data_path"] = cfg.val.data_path
    for i, name in enumerate(cfg.imports):
        paths[f"imports[{i}]"] = module_file(name)
    return {k: str(p) for k, p in paths.items() if p}


def module_file(name: str) -> str | None:
    """The source file of an importable module, if it has one."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    return origin if origin and os.path.isfile(origin) else None


def input_hashes(cfg) -> dict[str, str]:
    """Content hashes of `input_files`: a run is its config *and* its inputs."""
    return {k: file_sha256(p) for k, p in input_files(cfg).items()}


def resolved_config(cfg, rt: Runtime, model_params: dict) -> dict:
    """The config as it ran: runtime settings and model params filled in, secrets redacted."""
    data = cfg.model_dump(mode="json", by_alias=True)
    data["global"] = runtime_block(rt)
    data["model"]["params"] = dict(model_params)
    return redact(data)


def runtime_block(rt: Runtime) -> dict:
    """The `global` section as it ran (seed, device and dtypes resolved)."""
    d = rt.describe()
    return {
        "seed": rt.seed,
        "device": str(rt.device),
        "dtype": d["dtype"],
        "amp_dtype": None if rt.amp_dtype is None else d["amp_dtype"],
        "deterministic": rt.deterministic,
    }


def config_hash(resolved: dict, inputs: dict[str, str] | None = None) -> str:
    """The run id: 16 hex digits of the resolved config (credentials dropped) and input hashes."""
    keyed = json.loads(json.dumps(resolved))
    if keyed.get("mlflow"):
        keyed["mlflow"].pop("credentials", None)
    return text_sha256(canonical_json({"config": keyed, "inputs": inputs or {}}))[:16]
