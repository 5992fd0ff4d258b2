"""Orchestration: what Prefect costs around the demo pipeline's steps, and what a user pays
on every run.

  per-task overhead  the demo flow in this process (API already up, the command line's Prefect
                     settings: flows/cli.local_settings): flow wall time minus the
                     time at least one task body was running (union of the task runs'
                     start..end, read back from the Prefect API), divided by the number of
                     task runs; target <= 50 ms. Baseline column: the steps' own time.
  cached re-run      `python flows/vae_sae.py --config ...` as a process, cold then again with
                     everything cached: process wall time, target <= 10% of the cold run. The
                     command answers such a re-run from the step cache records without a
                     Prefect flow run (flows/cached.py); the `--record` row is the same re-run
                     forced through Prefect (API start, flow run, 9 cached task runs)
  fixed costs        (reported) `import torch` / `prefect` / `mlflow` each in a fresh process,
                     the ephemeral API start plus one trivial flow, hashing the demo's inputs
                     with and without the hash memo
--quick runs the in-process flow with 1-epoch trainings and leaves out the two pipeline
processes and the API start (full mode only).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, diamonds_dir, env, median, row, skipped
from pipelines import prefect_home, write_pipeline

from alchemi_core import io


def info(case: str, seconds: float, note: str = "") -> dict:
    return {"case": case, "baseline": None, "alchemi": round(seconds, 3), "unit": "s",
            "ratio": None, "target": "-", "met": None, "note": note}  # fmt: skip


def process_seconds(args: list[str], env: dict | None = None, cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env, cwd=cwd)
    return time.perf_counter() - t0


def import_costs(repeats: int) -> list[dict]:
    base = median([process_seconds([sys.executable, "-c", "pass"]) for _ in range(repeats)])
    rows = []
    for mod in ("torch", "prefect", "mlflow", "alchemi_core.cli"):
        t = median(
            [process_seconds([sys.executable, "-c", f"import {mod}"]) for _ in range(repeats)]
        )
        rows.append(info(f"fixed: import {mod}", t - base, "fresh process, minus bare start"))
    return rows


def api_start(tmp: Path) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(tmp / "api-start")}
    code = ("import prefect, time; t = time.perf_counter(); "
            "prefect.flow(lambda: None, name='x')(); print(time.perf_counter() - t)")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env,
                         text=True)  # fmt: skip
    return info("fixed: API start + 1 flow", float(out.stdout.split()[-1]),
                "ephemeral server, existing database")  # fmt: skip


def hashing(data: Path) -> list[dict]:
    files = [data / f for f in ("train.csv", "val.csv", "test.csv", "cardinalities.json")]
    with env("ALCHEMI_HASH_CACHE", "0"):
        cold = min(_hash_all(files) for _ in range(3))
    _hash_all(files)  # fills the memo (the user's own, as a real run would)
    warm = min(_hash_all(files) for _ in range(3))
    mb = sum(f.stat().st_size for f in files) / 2**20
    return [info("fixed: hash demo inputs, full", cold, f"{mb:.1f} MB"),
            info("fixed: hash demo inputs, memo", warm, "unchanged files")]  # fmt: skip


def _hash_all(files: list[Path]) -> float:
    t0 = time.perf_counter()
    for f in files:
        io.file_sha256(f)
    return time.perf_counter() - t0


def union_seconds(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def task_overhead(tmp: Path, data: Path, epochs: tuple[int, int]) -> dict:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import temporary_settings

    from flows.cli import local_settings
    from flows.vae_sae import vae_then_sae_flow

    with temporary_settings(local_settings()):  # as `python flows/vae_sae.py` runs it
        flow(lambda: None, name="warm-up")()
        pipe = write_pipeline(tmp, data, tmp / "inproc", *epochs)
        t0 = time.perf_counter()
        out = vae_then_sae_flow(str(pipe))
        wall = time.perf_counter() - t0
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[out["flow_run_id"]]))
        )
    spans = [(r.start_time.timestamp(), r.end_time.timestamp()) for r in runs
             if r.start_time and r.end_time]  # fmt: skip
    own = union_seconds(spans)
    per_task = (wall - own) / max(len(runs), 1)
    note = (f"{len(runs)} task runs; flow {wall:.1f}s, steps {own:.1f}s; "
            f"{per_task * 1000:.0f} ms per task")  # fmt: skip
    return row("orchestration per-task overhead", own, wall, "s", "<= 0.05", note,
               ratio=per_task)  # fmt: skip


def cached_rerun(tmp: Path, data: Path, epochs: tuple[int | None, int | None]) -> dict:
    pipe = write_pipeline(tmp, data, tmp / "process", *epochs)
    env = {**os.environ, "PREFECT_HOME": str(tmp / "process-prefect")}
    cmd = [sys.executable, str(ROOT / "flows/vae_sae.py"), "--config", str(pipe)]
    warm = [sys.executable, "-c", "import prefect; prefect.flow(lambda: None, name='w')()"]
    subprocess.run(warm, check=True, capture_output=True, env=env)  # the API's database exists
    cold = process_seconds(cmd, env, tmp)
    cached = process_seconds(cmd, env, tmp)
    recorded = process_seconds([*cmd, "--record"], env, tmp)
    note = f"process wall: cold {cold:.1f}s, fully cached {cached:.1f}s"
    if any(epochs):
        note += f" (training shortened to {epochs[0]}/{epochs[1]} epochs)"
    return [
        row("pipeline fully cached re-run", cold, cached, "s", "<= 0.10", note),
        info(
            "pipeline cached re-run, --record",
            recorded,
            f"through Prefect (API start + flow run): {recorded / cold:.2f}x cold",
        ),  # fmt: skip
    ]


def run(quick: bool = False) -> list[dict]:
    prefect_home()
    data = diamonds_dir()
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-orch-") as tmp:
        tmp = Path(tmp)
        rows = [task_overhead(tmp, data, (1, 1) if quick else (2, 2))]
        if quick:  # two pipeline processes and a server start: minutes on a busy machine
            rows.append(skipped("pipeline fully cached re-run", "full mode only"))
        else:
            rows += [*cached_rerun(tmp, data, (None, None)), api_start(tmp)]
        rows += import_costs(1 if quick else 3)
        rows += hashing(data)
    return rows
