"""MLflow bookkeeping around training runs: link runs by tags, log a sweep as nested runs."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from alchemi_core.run.mlflow_tracker import TrackingUnavailable
from alchemi_core.secrets import redact_uri
from tasks.retry import retry_options
from tasks.step import step


def client(mlflow: dict):
    from alchemi_core import assembly  # torch and mlflow: only when a step talks to MLflow

    return assembly.build_tracker(mlflow).client


def run_link(mlflow: dict, experiment_id: str, run_id: str) -> str:
    uri = redact_uri(mlflow["tracking_uri"])
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"run {run_id} (experiment {experiment_id}) in {uri}"


def _describe_link(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    mlflow = {k: v for k, v in params["mlflow"].items() if k != "credentials"}
    return {"mlflow": mlflow, "runs": params["runs"], "tags": params["tags"]}, {}


@step("link_runs", _describe_link, gpu=False)
def link_runs(mlflow: dict, runs: dict[str, str], tags: dict[str, str]) -> dict:
    """Set `tags` on the run runs[target] (target: the last key) and return a link per run."""
    try:
        c = client(mlflow)
        *_, target = runs
        for k, v in tags.items():
            c.set_tag(runs[target], k, str(v))
        links = {
            name: run_link(mlflow, c.get_run(rid).info.experiment_id, rid)
            for name, rid in runs.items()
        }
    except Exception as exc:
        raise TrackingUnavailable(f"MLflow: {redact_uri(str(exc))[:200]}") from None
    return {"links": links, "outputs": {}}


@task(name="log_sweep", cache_policy=NO_CACHE, **retry_options(3))  # untagged: see step.py
def log_sweep(
    mlflow: dict,
    name: str,
    spec: dict,
    rows: list[dict],
    objective: str,
    pictures: list[str] | None = None,
) -> dict:
    """One parent run for the sweep (with `pictures`), one nested run per trial."""
    try:
        c = client(mlflow)
        exp = c.get_experiment_by_name(mlflow["experiment_name"])
        exp_id = exp.experiment_id if exp else c.create_experiment(mlflow["experiment_name"])
        parent = c.create_run(exp_id, run_name=name, tags={"alchemi.kind": "sweep"}).info.run_id
        for k, v in spec.items():
            c.log_param(parent, k, str(v)[:6000])
        for row in rows:
            child = c.create_run(
                exp_id,
                run_name=row["trial"],
                tags={
                    "mlflow.parentRunId": parent,
                    "alchemi.kind": "trial",
                    "alchemi.vae_run_id": str(row.get("vae_run_id")),
                    "alchemi.sae_run_id": str(row.get("sae_run_id")),
                    "alchemi.status": row["status"],
                },
            ).info.run_id
            for k, v in row["params"].items():
                c.log_param(child, k, str(v))
            for k, v in row["metrics"].items():
                c.log_metric(child, k, float(v))
            c.set_terminated(child, "FINISHED" if row["status"] == "ok" else "FAILED")
        best = next((r for r in rows if r["status"] == "ok"), None)
        if best is not None:
            c.set_tag(parent, "alchemi.best_trial", best["trial"])
            c.log_metric(parent, f"best.{objective}", float(best["metrics"][objective]))
        for path in pictures or []:
            c.log_artifact(parent, path)
        c.set_terminated(parent, "FINISHED")
    except Exception as exc:
        raise TrackingUnavailable(f"MLflow: {redact_uri(str(exc))[:200]}") from None
    return {"parent_run_id": parent, "link": run_link(mlflow, exp_id, parent)}
