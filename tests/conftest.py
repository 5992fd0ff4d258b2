"""Shared fixtures: real example data prepared once, a tiny debug config per test."""

from __future__ import annotations

import os

# Before torch/prefect/mlflow load: no network, no telemetry, one CPU thread per process
# (the suite runs servers and workers beside training on a 2-core machine).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("ALCHEMI_PLOTS", "0")  # ~1 s a run; tests that check plots turn it on

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from alchemi_core.tabular.prepare import prepare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def penguins_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("penguins")
    prepare("penguins", out)
    return out


@pytest.fixture(scope="session")
def penguins_parquet_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("penguins_pq")
    prepare("penguins", out, fmt="parquet")
    return out


def debug_config_dict(data_dir: Path, out_dir: Path, **changes) -> dict:
    """The shipped debug config, pointed at `data_dir` and writing under `out_dir`."""
    cfg = yaml.safe_load((ROOT / "configs/vae/penguins_debug.yaml").read_text())
    for section in ("train", "val"):
        cfg[section]["data_path"] = str(data_dir / f"{section}.csv")
    cfg["data"]["cardinalities_path"] = str(data_dir / "cardinalities.json")
    cfg["experiment"]["output_dir"] = str(out_dir)
    return set_dotted(cfg, changes)


def set_dotted(cfg: dict, changes: dict) -> dict:
    """Apply {"a__b": value} changes to a nested dict ("global_" spells "global"), through the
    CLI's own --set helper."""
    from alchemi_core.config.loading import set_dotted as set_key

    for dotted, value in changes.items():
        key = ".".join("global" if p == "global_" else p for p in dotted.split("__"))
        set_key(cfg, key, value)
    return cfg


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory, penguins_dir) -> Path:
    """The debug VAE trained once with save_strategy all: best, last and epoch_1..3 exist."""
    from alchemi_core import api
    from alchemi_core.config.schema import TrainingConfig

    out = tmp_path_factory.mktemp("vae_run")
    cfg = debug_config_dict(penguins_dir, out, checkpoint__save_strategy="all")
    api.train(api.as_config(cfg, TrainingConfig)[0])
    return out / "debug"


@pytest.fixture
def write_config(tmp_path, penguins_dir):
    """write_config(**changes) -> path of a debug config; keys use __ for dots."""

    def _write(name: str = "cfg.yaml", data: dict | None = None, **changes) -> Path:
        cfg = (
            data
            if data is not None
            else debug_config_dict(penguins_dir, tmp_path / "out", **changes)
        )
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    return _write


@pytest.fixture(scope="session")
def _mlflow_template_db(tmp_path_factory) -> Path:
    """One migrated MLflow SQLite store; tests copy it (a fresh one costs 1-2.5 s)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow_template") / "template.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def mlflow_uri(tmp_path, _mlflow_template_db) -> str:
    import shutil

    db = tmp_path / "mlflow.db"
    shutil.copyfile(_mlflow_template_db, db)
    return f"sqlite:///{db}"


@pytest.fixture(scope="session")
def shipped_workspace(tmp_path_factory) -> Path:
    """A folder where the shipped configs' relative paths resolve: small data/penguins and
    data/diamonds, and stand-in VAE embeddings (8 wide for diamonds, 4 for penguins) where the
    SAE and predict configs read them. Validation only: nothing here was trained."""
    import numpy as np

    from tests.shipped import small_data

    root = tmp_path_factory.mktemp("shipped")
    small_data(root)
    rng = np.random.default_rng(0)
    for run, width in (("baseline", 8), ("debug", 4)):
        folder = root / "experiments" / "vae" / run / "embeddings"
        folder.mkdir(parents=True)
        for split in ("train", "val", "test"):
            np.save(folder / f"{split}_embeddings.npy", rng.normal(size=(32, width)).astype("f4"))
    return root


def _secret_state() -> tuple[set[str], dict[str, str | None]]:
    from alchemi_core import secrets

    names = (*secrets.SECRET_ENV, "MLFLOW_TRACKING_USERNAME")  # a tracker exports credentials
    return set(secrets._known), {k: os.environ.get(k) for k in names}


_SECRETS_AT_START = _secret_state()


@pytest.fixture(autouse=True)
def _forget_secrets():
    """Secrets remembered during a test, or by a module fixture before it (e.g. the reference's
    password "pass"), must not mask text in later tests: after each test the process-wide set
    and the credential variables go back to what they were when the session started."""
    from alchemi_core import secrets

    yield
    known, env = _SECRETS_AT_START
    secrets._known.clear()
    secrets._known.update(known)
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# The longest files first: under `make test` (pytest-xdist, one file per worker at a time) a
# long file that starts last leaves the other core idle at the end. The order inside a file is
# kept; a plain `pytest` run only changes the order of files.
LONG_FIRST = (
    "tests/test_vae_balance.py",
    "tests/test_distributed.py",
    "tests/e2e/test_deployment.py",  # one Prefect server for the deployment run and the sweep
    "tests/test_resume.py",
    "tests/test_sae_downstream.py",
    "tests/test_mlflow_server.py",
    "tests/spectral/test_alignment_extra.py",
    "tests/flows/test_shipped_configs.py",
    "tests/docs/test_getting_started.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}

    def key(item):
        path = item.path.resolve().relative_to(ROOT).as_posix()
        return rank.get(path, len(LONG_FIRST))

    items.sort(key=key)  # stable: files keep their order otherwise
