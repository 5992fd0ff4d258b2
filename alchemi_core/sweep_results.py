"""A sweep's results: one row per trial, ranked by the objective, flattened into a CSV.

A row is {"trial", "status" ("ok" | "failed"), "params", "metrics", ...}; `rank` puts the best
finished trial first (failed trials and NaN objectives last) and refuses an objective that the
finished trials do not log.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from alchemi_core.errors import AlchemiError
from alchemi_core.io import write_text

STAGES = ("vae", "sae")


def stage_metrics(results: dict[str, Any]) -> dict[str, float]:
    """A stage's metrics: its validate step's, else the training's own val_* metrics at the
    epoch of its checkpoint (the same model on the same split, measured while training)."""
    if "validate" in results:
        return results["validate"]["metrics"]
    row = results["train"]["checkpoint_metrics"]
    return {k.removeprefix("val_"): v for k, v in row.items() if k.startswith("val_")}


def trial_row(trial, results: dict[str, Any], states: dict[str, str]) -> dict:
    """A finished trial (`.name`, `.params`): `results[stage]` holds that stage's train task
    result, and its validate task result if it had one."""
    metrics = {
        f"{stage}.{k}": v for stage in STAGES for k, v in stage_metrics(results[stage]).items()
    }
    return {
        "trial": trial.name,
        "status": "ok",
        "params": trial.params,
        "metrics": metrics,
        "states": states,
        **{f"{stage}_run_dir": results[stage]["train"]["run_dir"] for stage in STAGES},
        **{f"{stage}_run_id": results[stage]["train"].get("mlflow_run_id") for stage in STAGES},
    }


def failed_row(trial, exc: BaseException) -> dict:
    return {
        "trial": trial.name,
        "status": "failed",
        "params": trial.params,
        "metrics": {},
        "error": str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__,
    }


def rank(rows: list[dict], objective) -> list[dict]:
    """Best first by `objective.metric` (`.direction` min or max); failed and NaN rows last."""
    metric = objective.metric
    sign = 1 if objective.direction == "min" else -1

    def key(row: dict) -> tuple:
        value = row["metrics"].get(metric)
        if row["status"] != "ok" or value is None or math.isnan(value):
            return (1, 0.0)
        return (0, sign * value)

    for row in rows:
        if row["status"] == "ok" and metric not in row["metrics"]:
            have = ", ".join(sorted(row["metrics"]))
            raise AlchemiError(f"objective {metric!r} is not a trial metric; have: {have}")
    return sorted(rows, key=key)


def table(rows: list[dict], objective: str) -> list[dict[str, Any]]:
    """One flat row per trial for the CSV and the table artifact."""
    return [
        {
            "rank": i,
            "trial": row["trial"],
            "status": row["status"],
            objective: row["metrics"].get(objective),
            **row["params"],
            **{k: v for k, v in row["metrics"].items() if k != objective},
            "sae_run_dir": row.get("sae_run_dir", ""),
            "error": row.get("error", ""),
        }
        for i, row in enumerate(rows, 1)
    ]


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """The table as CSV (columns: the union of every row's keys, in first-seen order)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())
