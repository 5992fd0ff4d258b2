"""A real `mlflow server` (basic auth, sqlite): no password leaks anywhere, and an outage in the
middle of a run costs no training and no metrics."""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from alchemi_core.config.loading import load_config
from alchemi_core.errors import ConfigError
from tests.conftest import ROOT, debug_config_dict
from tests.reliability_helpers import MlflowServer, alchemi, run_cli, subprocess_env

pytestmark = pytest.mark.slow
CANARY = "CANARYpw-7f3a9c2e1b-server"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = MlflowServer(tmp_path_factory.mktemp("mlflow_server"), password=CANARY)
    print(f"mlflow server healthy in {srv.start():.1f}s")
    yield srv
    srv.stop()


def client(srv: MlflowServer, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", CANARY)
    return MlflowClient(tracking_uri=srv.uri)


def files_containing(root: Path, needle: str) -> list[Path]:
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in readable(p)]


def readable(path: Path) -> bytes:
    """A file's bytes, plus the pickled value of a Prefect result record (stored base64)."""
    raw = path.read_bytes()
    if raw.startswith(b'{"metadata":'):
        try:
            raw += base64.b64decode(json.loads(raw)["result"])
        except (ValueError, KeyError, TypeError):
            pass
    return raw


def write_cfg(path: Path, data_dir: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump(debug_config_dict(data_dir, path.parent / "out", **changes)))
    return path


def test_canary_password_never_leaks(server, tmp_path, penguins_dir, monkeypatch, capsys):
    mlflow = {"tracking_uri": server.uri, "experiment_name": "canary"}
    # 1. The password in the config's mlflow.credentials.
    one = tmp_path / "one"
    one.mkdir()
    creds = {**mlflow, "credentials": {"username": "admin", "password": CANARY}}
    cfg = write_cfg(one / "cfg.yaml", penguins_dir, mlflow=creds)
    p1 = alchemi(["train", "--config", cfg], one)
    # 2. The password in MLFLOW_TRACKING_PASSWORD.
    two = tmp_path / "two"
    two.mkdir()
    cfg = write_cfg(two / "cfg.yaml", penguins_dir, mlflow=mlflow)
    env = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": CANARY}
    p2 = alchemi(["train", "--config", cfg], two, env)
    # 3. Errors (in this process, to see the exception text too): a wrong password, a server
    # that is not there, the password in the URI.
    three = tmp_path / "three"
    three.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "x" + CANARY)
    p3 = run_cli(
        ["train", "--config", write_cfg(three / "c1.yaml", penguins_dir, mlflow=mlflow)], capsys
    )
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", CANARY)
    dead = {**mlflow, "tracking_uri": server.uri.replace(str(server.port), "1")}
    p4 = run_cli(
        ["train", "--config", write_cfg(three / "c2.yaml", penguins_dir, mlflow=dead)], capsys
    )
    in_uri = {**mlflow, "tracking_uri": server.uri.replace("http://", f"http://admin:{CANARY}@")}
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    p5 = run_cli(
        ["train", "--config", write_cfg(three / "c3.yaml", penguins_dir, mlflow=in_uri)], capsys
    )
    assert p3[0] == 1 and "401" in p3[2]
    assert p4[0] == 1 and "unavailable" in p4[2]
    assert p5[0] == 2 and "mlflow.tracking_uri: credentials in the URI" in p5[2]
    with pytest.raises(ConfigError) as e:
        load_config(three / "c3.yaml")
    assert CANARY not in str(e.value)
    printed = "".join(p.stdout + p.stderr for p in (p1, p2)) + "".join(
        o + e for _, o, e in (p3, p4, p5)
    )

    for p in (p1, p2):
        assert p.returncode == 0, p.stderr
    # The runs really went through the authenticated server (so the search below means something).
    c = client(server, monkeypatch)
    for p in (p1, p2):
        run = c.get_run(json.loads(p.stdout)["mlflow_run_id"])
        assert run.info.status == "FINISHED" and run.data.params
        assert {a.path for a in c.list_artifacts(run.info.run_id)} >= {
            "config.yaml",
            "metrics.jsonl",
        }
    assert CANARY not in printed
    assert "***" in (one / "out" / "debug" / "config.yaml").read_text()
    # Every file the runs, the client and the server wrote (basic_auth.db holds a hash only).
    # (the user's own config files hold it, of course)
    assert files_containing(tmp_path, CANARY) == [one / "cfg.yaml", three / "c3.yaml"]
    assert files_containing(server.base, CANARY) == []
    assert files_containing(server.base, "config.yaml")  # artifacts did land there


def canary_pipeline(folder: Path, data_dir: Path, uri: str) -> Path:
    """The shipped tiny pipeline with both stages tracked on the server, the password inline."""
    mlflow = {"tracking_uri": uri, "credentials": {"username": "admin", "password": CANARY}}
    pipe = yaml.safe_load((ROOT / "configs/pipelines/penguins_debug.yaml").read_text())
    vae = debug_config_dict(data_dir, folder / "experiments" / "vae")
    vae["mlflow"] = {**mlflow, "experiment_name": "canary-vae"}
    (folder / "vae.yaml").write_text(yaml.safe_dump(vae))
    pipe["vae"] = "vae.yaml"
    pipe["sae"]["experiment"]["output_dir"] = str(folder / "experiments" / "sae")
    pipe["sae"]["mlflow"] = {**mlflow, "experiment_name": "canary-sae"}
    pipe["extract"]["test_data_path"] = str(data_dir / "test.csv")
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(pipe, sort_keys=False))
    return folder / "pipeline.yaml"


def test_canary_password_never_leaks_from_the_flow(server, tmp_path, penguins_dir, monkeypatch):
    """The VAE -> SAE flow with the password in both stages' mlflow.credentials and in the
    environment: not in its output, Prefect's database, parameters or persisted task results,
    the run folders, or the server's store."""
    pipeline = canary_pipeline(tmp_path, penguins_dir, server.uri)
    home = tmp_path / "prefect_home"
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_API_URL": "",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": CANARY,
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "flows/vae_sae.py"), "--config", str(pipeline), "--json"],
        cwd=tmp_path,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    # The runs really went through the authenticated server, and Prefect really persisted.
    c = client(server, monkeypatch)
    for stage in ("vae", "sae"):
        run = c.get_run(result[stage]["mlflow_run_id"])
        assert run.info.status == "FINISHED" and run.data.params
    assert c.get_run(result["sae"]["mlflow_run_id"]).data.tags["alchemi.vae_run_id"]
    results = [readable(p) for p in (home / "storage").iterdir()]
    assert any(b"mlflow_run_id" in r for r in results)
    assert files_containing(home, str(pipeline))  # the DB is searchable: the flow's parameter
    assert CANARY not in proc.stdout + proc.stderr
    # Only the user's own config files hold it.
    assert sorted(files_containing(tmp_path, CANARY)) == [pipeline, tmp_path / "vae.yaml"]
    assert files_containing(server.base, CANARY) == []


def test_server_outage_mid_run(server, tmp_path, penguins_dir, monkeypatch):
    brake = tmp_path / "slow"
    brake.write_text("")
    cfg = write_cfg(
        tmp_path / "cfg.yaml",
        penguins_dir,
        imports=["tests.fault_losses"],
        train__epochs=40,
        train__loss={
            "class": "FailpointVAELoss",
            "params": {"sleep": 0.4, "slow_while": str(brake)},
        },
        mlflow={"tracking_uri": server.uri, "experiment_name": "outage"},
    )
    run_dir = tmp_path / "out" / "debug"
    env = subprocess_env({"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": CANARY})
    proc = subprocess.Popen(
        [sys.executable, "-m", "alchemi_core.cli", "train", "--config", str(cfg)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def wait_epoch(n: int) -> int:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            path = run_dir / "metrics.jsonl"
            done = len(path.read_text().splitlines()) if path.exists() else 0
            if done >= n:
                return done
            time.sleep(0.05)
        raise TimeoutError(n)

    try:
        wait_epoch(2)
        server.stop()
        down_from = wait_epoch(3)
        restart_seconds = server.start()
        up_from = wait_epoch(wait_epoch(1) + 2)  # a few epochs with the server back
        brake.unlink()  # let it finish
        t_brake = time.monotonic()
        out, err = proc.communicate(timeout=300)
        print(f"tail after the brake: {time.monotonic() - t_brake:.1f}s")
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "finished" and result["epochs_run"] == 40
    assert "MLflow: log metrics failed" in err and "MLflow answers again" in err
    assert (run_dir / "checkpoints" / "last_model.pt").exists()
    c = client(server, monkeypatch)
    run = c.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    steps = [m.step for m in c.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == list(range(1, 41))  # every epoch, once: nothing lost
    info = json.loads((run_dir / "run.json").read_text())
    assert info["mlflow_pending"] is False and info["mlflow_synced_epoch"] == 40
    # What the outage cost per epoch (printed for the report, not asserted: shared machine).
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    secs = [r["epoch_seconds"] for r in rows]
    print(
        f"server restart {restart_seconds:.1f}s; median epoch before outage "
        f"{statistics.median(secs[: down_from - 1]):.3f}s, during "
        f"{statistics.median(secs[down_from : up_from - 3]):.3f}s"
    )
