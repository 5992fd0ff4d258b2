"""The markdown a flow leaves behind: one table row per step (state, metrics, paths, links)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from alchemi_core.alignment import figures as alignment_figures
from alchemi_core.tabular import figures

NAMES = figures.NAMES + alignment_figures.NAMES  # every picture a run folder may hold


def fmt_metrics(metrics: dict[str, float] | None, limit: int = 6) -> str:
    if not metrics:
        return ""
    items = list(metrics.items())[:limit]
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def step_row(stage: str, step: str, state: str, result: dict[str, Any]) -> dict[str, str]:
    path = result.get("path") or result.get("run_dir") or ""
    if step == "extract":
        path = extract_output(result["splits"])
    metrics = (
        result.get("metrics")
        if step != "train"
        else {k: v for k, v in (result.get("metrics") or {}).items() if k.startswith("val_")}
    )
    shown = train_metrics(result, ("best",), TABLE_METRICS) if step == "train" else None
    return {
        "stage": stage,
        "step": step,
        "state": state,
        "metrics": shown or fmt_metrics(key_metrics(metrics or {}), limit=TABLE_METRICS),
        "output": str(path),
        "all_metrics": (step == "train" and train_metrics(result, full=True))
        or fmt_metrics(metrics, limit=len(metrics or {})),
    }


def extract_output(splits: dict[str, dict]) -> str:
    """The embedding files, their folder once when they share one (a table cell does not wrap)."""
    folders = {str(Path(v["path"]).parent) for v in splits.values()}
    if len(folders) != 1:
        return ", ".join(f"{k}: {v['path']} {v['shape']}" for k, v in splits.items())
    shapes = ", ".join(f"{k} {v['shape']}" for k, v in splits.items())
    return f"{folders.pop()}/: {shapes}"


def train_metrics(
    result: dict[str, Any], which: tuple = ("best", "last"), limit: int = 4, full: bool = False
) -> str:
    """A training's key validation metrics (`full`: all of them) at its best epoch and at its
    last, each labelled ("" for a result that does not hold both)."""
    if not result.get("best_metrics") or not result.get("metrics"):
        return ""
    lines = {"best": result.get("best_metrics"), "last": result.get("metrics")}
    parts = []
    for label in which:
        line = lines[label] or {}
        vals = {k: v for k, v in line.items() if k.startswith("val_")}
        vals = vals if full else key_metrics(vals)
        if vals:
            shown = fmt_metrics(vals, len(vals) if full else limit)
            parts.append(f"{label} (epoch {line['epoch']}): {shown}")
    return "; ".join(parts)


TABLE_METRICS = 3  # the table's cells do not wrap in Prefect's UI: every metric goes below it


def markdown(title: str, rows: list[dict[str, str]], notes: list[str]) -> str:
    """The steps' table (a few key metrics each), every metric of each step in a list below
    it (list items wrap; table cells do not), then `notes`."""
    cols = ["stage", "step", "state", "metrics", "output"]
    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c].replace("|", "/") for c in cols) + " |" for r in rows]
    full = [r for r in rows if r.get("all_metrics")]
    if full:
        lines += ["", "**All metrics**", ""]
        lines += [
            f"- {' '.join(filter(None, (r['stage'], r['step'])))}: {r['all_metrics']}" for r in full
        ]
    return "\n".join([*lines, "", *notes]) + "\n"


def latent_notes(result: dict[str, Any] | None) -> list[str]:
    """The SAE latent report: where it is, and its most frequent latents."""
    if not result:
        return []
    lines = ["", "## SAE latents", "", f"report: `{result['report_html']}`"]
    if result.get("mlflow_artifacts"):
        lines[-1] += f" (MLflow artifacts: `{result['mlflow_artifacts']}`)"
    cols = ["latent", "frequency", "mean_activation", "top_column", "top_value", "lift"]
    lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in result.get("top", []):
        cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c] or "") for c in cols]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def pictures(run_dirs: dict[str, str], extra: list[Path] | None = None) -> list[str]:
    """Markdown for every picture of the runs, embedded (the Prefect UI shows them inline)."""
    found = [(stage, Path(d) / n) for stage, d in run_dirs.items() for n in NAMES]
    found += [("sweep", p) for p in extra or []]
    lines = ["", "## Pictures", ""]
    for stage, path in found:
        if path.exists():
            image = f"![{stage} {path.stem}]({data_uri(path)})"
            lines += [f"**{stage}: {path.stem}** `{path}`", "", image, ""]
    return lines if len(lines) > 3 else []


def picture_files(run_dirs: dict[str, str]) -> list[str]:
    return [str(Path(d) / n) for d in run_dirs.values() for n in NAMES if (Path(d) / n).exists()]


LOCAL_UI = "http://127.0.0.1:4200"  # `prefect server start` on the local store


def prefect_ui() -> str | None:
    """The UI of the Prefect server the flows ran against (PREFECT_API_URL), if any: a
    temporary API is gone once the run ends."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    if not PREFECT_API_URL.value():
        return None
    return (PREFECT_UI_URL.value() or "").rstrip("/") or None


def flow_run_line(run_id: str) -> str:
    ui = prefect_ui()
    if ui:
        return f"Prefect flow run: {run_id}  {ui}/runs/flow-run/{run_id}"
    return f"Prefect flow run: {run_id} (to see it: prefect server start, then {LOCAL_UI}/runs)"


def ui_commands(mlflow_uris: list[str]) -> list[str]:
    ui = prefect_ui()
    lines = [
        f"  open {ui}    # the Prefect server these runs went to"
        if ui
        else f"  prefect server start    # {LOCAL_UI}, runs of the local Prefect store"
    ]
    for uri in dict.fromkeys(mlflow_uris):
        if uri.startswith(("http://", "https://")):
            lines.append(f"  open {uri}    # the MLflow server these runs went to")
        else:
            lines.append(f"  mlflow ui --backend-store-uri {uri}    # http://127.0.0.1:5000")
    return lines


KEY_METRICS = ("loss", "numerical_mse", "categorical_accuracy", "fve", "l0", "dead_fraction")


def key_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The few a person reads first; the rest is in metrics.jsonl and MLflow."""
    key = {k: v for k, v in metrics.items() if k.split(".")[-1].removeprefix("val_") in KEY_METRICS}
    return key or dict(list(metrics.items())[:4])


def text(title: str, result: dict[str, Any], seconds: float) -> str:
    """The few lines a person reads at the end of a flow run (the full result: --json)."""
    out = [f"{title}: done in {seconds:.0f} s"]
    for stage, metrics in (result.get("metrics") or {}).items():
        out.append(f"  {stage:<6} {fmt_metrics(key_metrics(metrics))}")
    if result.get("best"):
        best = result["best"]
        out.append(f"  best trial {best['trial']}: {fmt_metrics(key_metrics(best['metrics']))}")
    out.append("files:")
    for label, path in (result.get("files") or {}).items():
        out.append(f"  {label:<12} {path}")
    out += [f"  picture      {p}" for p in result.get("pictures", [])]
    links = result.get("links") or {}
    if links:
        out.append("MLflow runs:")
        out += [f"  {stage:<6} {link}" for stage, link in links.items()]
    if result.get("flow_run_id"):
        out.append(flow_run_line(result["flow_run_id"]))
    out.append("open the UIs on the same stores:")
    out += ui_commands(result.get("mlflow_uris") or [])
    out.append("(the full result as JSON: add --json)")
    return "\n".join(out)
