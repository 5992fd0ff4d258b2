"""A step cached by one process is a hit in another that shares only ALCHEMI_CACHE_STORAGE:
different working folders, different PREFECT_HOME (so different Prefect servers and default
result storage). The first names the store by its folder; the second by a storage block saved on
its own server (a LocalFileSystem here; an s3:// store is a RemoteFileSystem block the same way)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, debug_config_dict

pytestmark = pytest.mark.slow


SAVE_BLOCK = (
    "import sys; from prefect.filesystems import LocalFileSystem; "
    "LocalFileSystem(basepath=sys.argv[1]).save('alchemi-cache', overwrite=True)"
)


def worker_env(cwd, store: str) -> dict:
    cwd.mkdir()
    env = {
        **os.environ,
        "ALCHEMI_CACHE_STORAGE": store,
        "PREFECT_HOME": str(cwd / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_LOCAL_STORAGE_PATH", None)
    return env


def run(cmd: list[str], cwd, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def train_flow(config, cwd, env: dict) -> dict:
    out = run(
        [sys.executable, str(ROOT / "flows/train.py"), "--config", str(config), "--json"], cwd, env
    )
    return json.loads(out[out.index("{") :])


def test_a_step_cached_on_one_worker_is_a_hit_on_another(tmp_path, penguins_dir):
    shared = tmp_path / "shared"  # what every worker mounts: data, run folders, cache
    shutil.copytree(penguins_dir, shared / "data")
    cfg = debug_config_dict(shared / "data", shared / "runs", train__epochs=1)
    config = shared / "vae.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    store = shared / "cache"

    a, b = tmp_path / "worker-a", tmp_path / "worker-b"
    first = train_flow(config, a, worker_env(a, str(store)))
    env_b = worker_env(b, "local-file-system/alchemi-cache")
    run([sys.executable, "-c", SAVE_BLOCK, str(store)], b, env_b)
    second = train_flow(config, b, env_b)

    assert set(first["states"].values()) == {"Completed"}
    assert second["states"] == {"train": "Cached", "checkpoint": "Cached", "validate": "Cached"}
    assert second["metrics"] == first["metrics"]
    assert any(store.iterdir())  # the records are in the shared store ...
    for worker in ("worker-a", "worker-b"):  # ... not in either worker's own storage
        assert not (tmp_path / worker / "prefect-home" / "storage").exists()
