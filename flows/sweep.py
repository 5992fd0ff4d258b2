"""A sweep over a VAE -> SAE pipeline: grid and seeded random sampling over vae.*/sae.* keys.

    python flows/sweep.py --config configs/sweeps/penguins_sae_tiny.yaml [--refresh]

Trials run concurrently (a thread pool of `concurrency` workers). A VAE that several trials share
is submitted once, and later sweeps reuse it through the cache. Results: a CSV sorted by the
objective, a Prefect table artifact, and an MLflow parent run with one nested run per trial.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make tasks/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from alchemi_core.config import sweep as sw
from alchemi_core.config import trials as tr
from alchemi_core.errors import AlchemiError
from alchemi_core.io import canonical_json
from alchemi_core.sweep_results import failed_row, rank, table, trial_row, write_csv
from flows.stages import Steps, resolve, result, submit_sae, submit_vae
from tasks import forking
from tasks.tracking import log_sweep


@flow(name="sweep-trials")
def run_trials(config: str, refresh: bool = False) -> dict[str, Any]:
    cfg, trials = tr.load_sweep(config)
    steps = Steps(refresh)
    vae_stages: dict[str, dict] = {}
    for t in trials:  # one VAE stage per distinct VAE config, submitted before any SAE
        key = canonical_json(t.pipeline.vae_dict())
        if key not in vae_stages:
            vae_stages[key] = submit_vae(steps, t.pipeline)
    running, rows = [], []
    for t in trials:
        vae = vae_stages[canonical_json(t.pipeline.vae_dict())]
        try:
            embeddings = result(vae, "extract")
            running.append((t, vae, submit_sae(steps, t.pipeline, embeddings)[1]))
        except Exception as exc:
            rows.append(failed_row(t, exc))
    for t, vae, sae in running:
        try:
            (rv, sv), (rs, ss) = resolve(vae), resolve(sae)
        except Exception as exc:
            rows.append(failed_row(t, exc))
            continue
        states = {
            **{f"vae.{k}": v for k, v in sv.items()},
            **{f"sae.{k}": v for k, v in ss.items()},
        }
        rows.append(trial_row(t, {"vae": rv, "sae": rs}, states))
    if rows and all(r["status"] == "failed" for r in rows):
        raise AlchemiError(f"every trial failed; first: {rows[0]['error']}")
    rows = rank(rows, cfg.objective)
    return {"rows": rows, "vae_stages": len(vae_stages), "flow_run_id": str(runtime.flow_run.id)}


def log_results(config: str, cfg: sw.SweepConfig, trials: list[tr.Trial], out: dict) -> dict:
    rows, metric = out["rows"], cfg.objective.metric
    flat = table(rows, metric)
    csv_path = write_csv(Path(cfg.output_dir) / "results.csv", flat)
    best = rows[0] if rows[0]["status"] == "ok" else None
    create_table_artifact(table=flat, key="sweep-results", description=f"{config}: best first")
    best_line = (
        f"best trial: **{best['trial']}** {metric}={best['metrics'][metric]:.6g} "
        f"params {best['params']}"
        if best
        else "no trial finished"
    )
    summary = {
        "best": best and {k: best[k] for k in ("trial", "params", "metrics", "sae_run_dir")},
        "csv": str(csv_path),
        "trials": len(rows),
        "vae_stages": out["vae_stages"],
        "trials_flow_run_id": out["flow_run_id"],
        "rows": rows,
    }
    mlflow = trials[0].pipeline.sae.get("mlflow")
    if mlflow:
        spec = {
            "sweep": config,
            "objective": f"{metric} ({cfg.objective.direction})",
            "grid": canonical_json(cfg.grid),
        }
        summary["mlflow"] = log_sweep(mlflow, Path(config).stem, spec, rows, metric)
    create_markdown_artifact(
        markdown=f"# Sweep {config}\n\n{best_line}\n\nresults: `{csv_path}`\n",
        key="sweep-summary",
    )
    return summary


@flow(name="sweep")
def sweep_flow(config: str, refresh: bool = False) -> dict[str, Any]:
    """Run the sweep in `config` (a sweep YAML path) with its concurrency."""
    forking.install()
    cfg, trials = tr.load_sweep(config)
    runner = ThreadPoolTaskRunner(max_workers=cfg.concurrency)
    out = run_trials.with_options(task_runner=runner)(config, refresh)
    return log_results(config, cfg, trials, out)


def main(argv: list[str] | None = None) -> int:
    from flows.cli import main as cli_main

    return cli_main(__doc__.splitlines()[0], tr.load_sweep, sweep_flow, argv)


if __name__ == "__main__":
    sys.exit(main())
