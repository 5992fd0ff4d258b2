"""Seen in a real browser: the Prefect and MLflow UIs after a penguins pipeline run.

    python -m tests.e2e.ui_check [--out docs]     (from the repository root; needs chromium)

Starts `prefect server` and `mlflow server` on 127.0.0.1 (their stores in a temporary folder),
runs the penguins debug pipeline against both, then opens with headless Chromium the flow run's
summary artifact and the MLflow run page: checks the summary text and the pictures are there
and saves a screenshot of each (docs/ui_prefect_artifact.png, docs/ui_mlflow_run.png).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alchemi_core.tabular.prepare import prepare  # noqa: E402
from tests.reliability_helpers import MlflowServer, free_port  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = "1280,1500"


def browser() -> str | None:
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def chromium(url: str, screenshot: Path | None = None, budget_ms: int = 20000) -> str:
    """The DOM of `url` after its scripts ran (`--virtual-time-budget`); a screenshot too."""
    args = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    args += [f"--window-size={WINDOW}", f"--virtual-time-budget={budget_ms}", "--dump-dom"]
    profile = tempfile.mkdtemp(prefix="ui-check-chromium-")
    args += [f"--user-data-dir={profile}", url]
    try:
        dom = subprocess.run(args, capture_output=True, text=True, timeout=180).stdout
        if screenshot is not None:
            shot = [a for a in args if a != "--dump-dom"]
            shot.insert(-1, f"--screenshot={screenshot}")
            subprocess.run(shot, capture_output=True, timeout=180, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return dom


def start_prefect(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(
        os.environ,
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api,
        PREFECT_UI_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        OMP_NUM_THREADS="1",
    )
    prefect = str(Path(sys.executable).with_name("prefect"))
    cmd = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "ab")  # noqa: SIM115  (owned by the process)
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((home / "server.log").read_text()[-2000:])
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2):
                return proc, api
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("prefect server not healthy")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def write_pipeline(folder: Path, mlflow_uri: str) -> Path:
    data = folder / "data"
    prepare("penguins", data)
    spec = yaml.safe_load((ROOT / "configs/pipelines/penguins_debug.yaml").read_text())
    vae = yaml.safe_load((ROOT / "configs/vae/penguins_debug.yaml").read_text())
    for section in ("train", "val"):
        vae[section]["data_path"] = str(data / f"{section}.csv")
    vae["data"]["cardinalities_path"] = str(data / "cardinalities.json")
    vae["experiment"]["output_dir"] = str(folder / "out" / "vae")
    mlflow = {"tracking_uri": mlflow_uri, "experiment_name": "ui-check"}
    vae["mlflow"] = mlflow
    spec["vae"] = vae
    spec["sae"]["experiment"]["output_dir"] = str(folder / "out" / "sae")
    spec["sae"]["mlflow"] = mlflow
    spec["extract"]["test_data_path"] = str(data / "test.csv")
    path = folder / "penguins.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def post(url: str, body: dict) -> list | dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def check(out: Path, work: Path) -> dict:
    """Run everything; returns what was found. Raises AssertionError on a missing piece."""
    out.mkdir(parents=True, exist_ok=True)
    mlflow = MlflowServer(work / "mlflow")
    mlflow.start(timeout=180)
    prefect, api = start_prefect(work / "prefect")
    try:
        pipeline = write_pipeline(work, mlflow.uri)
        env = dict(os.environ, PREFECT_API_URL=api, PREFECT_HOME=str(work / "prefect"))
        env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), ALCHEMI_PLOTS="1")  # tests set 0
        cmd = [sys.executable, "flows/vae_sae.py", "--config", str(pipeline), "--json"]
        ran = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
        result = json.loads(ran.stdout)
        flow_run = result["flow_run_id"]
        arts = post(f"{api}/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run]}}})
        summary = next(a for a in arts if a["key"] == "vae-sae-summary")
        ui = api.removesuffix("/api")
        page = f"{ui}/artifacts/artifact/{summary['id']}"
        for budget in (20000, 40000, 80000):  # a loaded machine renders the JS app slowly
            dom = chromium(page, out / "ui_prefect_artifact.png", budget_ms=budget)
            if dom.count("data:image/png;base64") >= 4:
                break
        (work / "ui_prefect_artifact.html").write_text(dom)  # to read when it fails
        assert "VAE -&gt; SAE pipeline" in dom or "VAE -> SAE pipeline" in dom, dom[-2000:]
        shown = dom.count("data:image/png;base64")
        assert shown >= 4, f"{shown} of 4 pictures in the artifact page ({work})"
        run_id = result["sae"]["mlflow_run_id"]
        vae_run = result["vae"]["mlflow_run_id"]
        exp = json.loads(
            urllib.request.urlopen(f"{mlflow.uri}/api/2.0/mlflow/runs/get?run_id={vae_run}").read()
        )["run"]["info"]["experiment_id"]
        run_page = f"{mlflow.uri}/#/experiments/{exp}/runs/{vae_run}/artifacts/embedding_map.png"
        mdom = chromium(run_page, out / "ui_mlflow_run.png", budget_ms=30000)
        for name in ("curves.png", "embedding_map.png"):
            assert name in mdom, f"{name} not on the MLflow run page"
        return {"prefect_page": page, "mlflow_page": run_page, "sae_run": run_id}
    finally:
        stop(prefect)
        mlflow.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs", help="folder for the screenshots")
    args = p.parse_args(argv)
    if browser() is None:
        print("chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ui-check-") as work:
        found = check(Path(args.out), Path(work))
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
