"""A sweep over a VAE -> SAE pipeline: grid and seeded random sampling over vae.*/sae.* keys.

    python flows/sweep.py --config configs/sweeps/penguins_sae_tiny.yaml [--refresh]

Trials run concurrently: a thread pool of `concurrency` workers, or (the config's `executor`) a
Dask cluster, or one run of the `sweep-trial` deployment per trial on a work pool. A VAE that
several trials share is submitted once, and later sweeps reuse it through the cache. Results: a CSV sorted by the
objective, a Prefect table artifact, and an MLflow parent run with one nested run per trial.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make tasks/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    """The command line: the pre-flight first, before Prefect is imported; then the flow."""
    from flows.entry import command

    return command(__doc__, "sweep", "flows.sweep:run_checked", argv)


if __name__ == "__main__":
    sys.exit(main())


from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from alchemi_core.config import sweep as sw
from alchemi_core.config import trials as tr
from alchemi_core.config.kinds import get_kind
from alchemi_core.config.preflight import checked
from alchemi_core.errors import AlchemiError
from alchemi_core.io import canonical_json, write_text
from alchemi_core.plots import plot_sweep
from alchemi_core.plots.common import enabled as plots_enabled
from alchemi_core.run import stop
from alchemi_core.sweep_results import failed_row, rank, table, trial_row, write_csv
from flows import dispatch, report
from flows.params import run_name
from flows.stages import Steps, resolve, result, submit_sae, submit_vae
from tasks import forking
from tasks.tracking import log_sweep

# A sweep loaded and checked once per run: the command line's check hands it to sweep_flow,
# sweep_flow to its run_trials subflow (each entry is taken once; a key includes the file's
# size and mtime, so an edited file is loaded again).
_LOADED: dict[tuple, tuple[sw.SweepConfig, list[tr.Trial]]] = {}


def _key(config: str) -> tuple:
    st = Path(config).stat()
    return (str(Path(config).resolve()), st.st_size, st.st_mtime_ns)


def load_checked(config: str) -> tuple[sw.SweepConfig, list[tr.Trial]]:
    """The sweep's config and trials, every check done (preflight): the one handed on by the
    step before in this run, else loaded now."""
    try:
        found = _LOADED.pop(_key(config), None)
    except OSError:
        found = None
    return found or checked("sweep")(config)


def hand_on(config: str, loaded: tuple) -> tuple:
    """Keep `loaded` for the next step of the same run, which takes it (load_checked)."""
    _LOADED[_key(config)] = loaded
    return loaded


def trial_rows(steps: Steps, trials: list[tr.Trial]) -> tuple[list[dict], int]:
    """Submit every trial's stages (a VAE shared by several trials once) and collect rows."""
    vae_stages: dict[str, dict] = {}
    for t in trials:  # one VAE stage per distinct VAE config, submitted before any SAE
        key = canonical_json(t.pipeline.vae_dict())
        if key not in vae_stages:
            vae_stages[key] = submit_vae(steps, t.pipeline, sweep=True)
    running, rows = [], []
    for t in trials:
        vae = vae_stages[canonical_json(t.pipeline.vae_dict())]
        try:
            embeddings = result(vae, "extract")
            running.append((t, vae, submit_sae(steps, t.pipeline, embeddings, sweep=True)[1]))
        except stop.StopRequested:
            raise
        except Exception as exc:
            rows.append(failed_row(t, exc))
    for t, vae, sae in running:
        try:
            (rv, sv), (rs, ss) = resolve(vae), resolve(sae)
        except stop.StopRequested:
            raise
        except Exception as exc:
            rows.append(failed_row(t, exc))
            continue
        states = {
            **{f"vae.{k}": v for k, v in sv.items()},
            **{f"sae.{k}": v for k, v in ss.items()},
        }
        rows.append(trial_row(t, {"vae": rv, "sae": rs}, states))
    return rows, len(vae_stages)


def ranked(rows: list[dict], objective: sw.Objective) -> list[dict]:
    if rows and all(r["status"] == "failed" for r in rows):
        raise AlchemiError(f"every trial failed; first: {rows[0]['error']}")
    return rank(rows, objective)


@flow(name="sweep-trials", flow_run_name=run_name("sweep trials"))
def run_trials(config: str, refresh: bool = False) -> dict[str, Any]:
    """Every trial of the sweep in `config`, ranked by its objective.

    Args:
        config: path of the sweep YAML file (relative to the working directory)
        refresh: ignore cached results and run every step again
    """
    cfg, trials = load_checked(config)  # sweep_flow's, when it called this subflow
    rows, n_vae = trial_rows(Steps(refresh), trials)
    rows = ranked(rows, cfg.objective)
    return {"rows": rows, "vae_stages": n_vae, "flow_run_id": str(runtime.flow_run.id)}


@flow(name="sweep-trial", flow_run_name="sweep trial {trial}: {config}")
def sweep_trial_flow(config: str, trial: str, refresh: bool = False) -> dict[str, Any]:
    """One trial of a sweep (what a deployment run does); its row also goes to a JSON file."""
    cfg, trials = tr.load_sweep(config)
    chosen = [t for t in trials if t.name == trial]
    if not chosen:
        raise AlchemiError(f"{config}: no trial named {trial!r}")
    get_kind("pipeline").check(chosen[0].pipeline, config)  # this trial's checks, first
    forking.install()
    stop.reclaim()  # SIGTERM as Ctrl-C, when run from the command line
    row = trial_rows(Steps(refresh), chosen)[0][0]
    write_text(dispatch.row_path(cfg, trial), json.dumps(row, default=str))
    return row


def log_results(config: str, cfg: sw.SweepConfig, trials: list[tr.Trial], out: dict) -> dict:
    rows, metric = out["rows"], cfg.objective.metric
    flat = table(rows, metric)
    csv_path = write_csv(Path(cfg.output_dir) / "results.csv", flat)
    best = rows[0] if rows[0]["status"] == "ok" else None
    picture = objective_plot(rows, metric, Path(cfg.output_dir) / "objective.png", best)
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
        "files": {"results": str(csv_path)},
        "pictures": [str(picture)] if picture else [],
        "mlflow_uris": [],
    }
    mlflow = trials[0].pipeline.sae.get("mlflow")
    if mlflow:
        spec = {
            "sweep": config,
            "objective": f"{metric} ({cfg.objective.direction})",
            "grid": canonical_json(cfg.grid),
        }
        logger = log_sweep.with_options(task_run_name=f"log sweep {Path(config).stem}")
        summary["mlflow"] = logger(
            mlflow, Path(config).stem, spec, rows, metric, summary["pictures"]
        )
        summary["mlflow_uris"] = [mlflow["tracking_uri"]]
        summary["links"] = {"sweep": summary["mlflow"]["link"]}
    lines = report.pictures({}, [picture] if picture else [])
    create_markdown_artifact(
        markdown="\n".join(
            [f"# Sweep {config}", "", best_line, "", f"results: `{csv_path}`", *lines]
        ),
        key="sweep-summary",
    )
    return summary


def objective_plot(rows: list[dict], metric: str, out: Path, best: dict | None) -> Path | None:
    """The objective against each swept parameter (none under ALCHEMI_PLOTS=0); a plotting
    problem is only a warning."""
    if not plots_enabled():
        return None
    trials = [
        {"params": r["params"], "value": r["metrics"].get(metric), "metrics": r["metrics"]}
        for r in rows
    ]
    top = {"params": best["params"], "value": best["metrics"][metric]} if best else None
    try:
        return plot_sweep(trials, metric, out, top)
    except Exception as exc:  # noqa: BLE001
        logging.getLogger("alchemi").warning("could not plot the sweep: %s", exc)
        return None


@flow(name="sweep", flow_run_name=run_name("sweep"))
def sweep_flow(config: str, refresh: bool = False) -> dict[str, Any]:
    """Run the sweep in `config` (a sweep YAML path) with its concurrency.

    Args:
        config: path of the sweep YAML file (relative to the working directory)
        refresh: ignore cached results and run every step again
    """
    cfg, trials = load_checked(config)  # every check before the first task
    forking.install()
    stop.reclaim()  # SIGTERM as Ctrl-C, when run from the command line
    if cfg.executor.kind == "deployment":
        rows = dispatch.on_deployment(config, cfg, trials, refresh, failed_row)
        vae_stages = len({canonical_json(t.pipeline.vae_dict()) for t in trials})
        out = {"rows": ranked(rows, cfg.objective), "vae_stages": vae_stages}
        out["flow_run_id"] = str(runtime.flow_run.id)
    else:
        runner = dispatch.task_runner(cfg)
        hand_on(config, (cfg, trials))  # run_trials takes it: no second load
        out = run_trials.with_options(task_runner=runner)(config, refresh)
    return log_results(config, cfg, trials, out)


def run_checked(args, loaded: tuple) -> int:
    """After the pre-flight: the flow (flows/cli.py), which takes the sweep checked here."""
    from flows.cli import execute

    hand_on(args.config, loaded)  # sweep_flow takes it: no second load
    return execute(args, sweep_flow, "sweep")
