"""The markdown a flow leaves behind: one table row per step (state, metrics, paths, links)."""

from __future__ import annotations

from typing import Any


def fmt_metrics(metrics: dict[str, float] | None, limit: int = 6) -> str:
    if not metrics:
        return ""
    items = list(metrics.items())[:limit]
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def step_row(stage: str, step: str, state: str, result: dict[str, Any]) -> dict[str, str]:
    path = result.get("path") or result.get("run_dir") or ""
    if step == "extract":
        path = ", ".join(f"{k}: {v['path']} {v['shape']}" for k, v in result["splits"].items())
    metrics = (
        result.get("metrics")
        if step != "train"
        else {k: v for k, v in (result.get("metrics") or {}).items() if k.startswith("val_")}
    )
    return {
        "stage": stage,
        "step": step,
        "state": state,
        "metrics": fmt_metrics(metrics),
        "output": str(path),
    }


def markdown(title: str, rows: list[dict[str, str]], notes: list[str]) -> str:
    cols = ["stage", "step", "state", "metrics", "output"]
    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c].replace("|", "/") for c in cols) + " |" for r in rows]
    return "\n".join([*lines, "", *notes]) + "\n"
