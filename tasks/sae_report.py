"""The SAE's latent report on one split (latents.csv, report.html), logged to the SAE's MLflow
run when it has one. Thin: alchemi_core.tabular.sae_report does the work."""

from __future__ import annotations

from typing import Any

from alchemi_core.run.mlflow_tracker import TrackingUnavailable
from alchemi_core.secrets import redact_uri
from tasks.caching import outputs
from tasks.checkpoint import verified
from tasks.step import step

ARTIFACT_DIR = "sae_report"


def describe(params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    ckpt = params["checkpoint"]
    mlflow = {k: v for k, v in (params.get("mlflow") or {}).items() if k != "credentials"}
    run_id = (params.get("train") or {}).get("mlflow_run_id")
    config = {"out": params["out"], "strategy": ckpt["strategy"], "mlflow": mlflow, "run": run_id}
    files = {"checkpoint": ckpt["path"], "embeddings": params["embeddings"]}
    return config, {**files, "table": params["table"]}


@step("sae_report", describe, gpu=False)
def sae_report(
    train: dict, checkpoint: dict, embeddings: str, table: str, out: str, mlflow: dict | None
) -> dict:
    """`train` and `checkpoint` are the SAE's train and checkpoint task results."""
    verified(checkpoint)
    from alchemi_core.tabular.sae_report import report  # torch: only when the step runs

    result = report(checkpoint["path"], embeddings, table, out)
    files = (result["latents_csv"], result["report_html"])
    run_id = train.get("mlflow_run_id")
    if mlflow and run_id:
        from tasks.tracking import client

        try:
            c = client(mlflow)
            for path in files:
                c.log_artifact(run_id, path, ARTIFACT_DIR)
        except Exception as exc:
            raise TrackingUnavailable(f"MLflow: {redact_uri(str(exc))[:200]}") from None
        result["mlflow_artifacts"] = f"{ARTIFACT_DIR}/"
    metrics = {"latents_alive": result["alive"], "l0": result["l0"], "rows": result["rows"]}
    return {**result, "path": result["report_html"], "metrics": metrics, "outputs": outputs(*files)}
