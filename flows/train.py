"""One training run as a flow (for deployments): train -> checkpoint -> validate, cached.

python flows/train.py --config configs/vae/penguins_debug.yaml [--refresh]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make tasks/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    """The command line: the pre-flight first, before Prefect is imported; then the flow."""
    from flows.entry import command

    return command(__doc__, "training", "flows.train:run_checked", argv)


if __name__ == "__main__":
    sys.exit(main())


from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact

from alchemi_core.config.preflight import checked
from alchemi_core.run import stop
from flows import report
from flows.params import run_name
from flows.stages import Steps, resolve, submit_model
from tasks import forking


@flow(name="train", flow_run_name=run_name("train"))
def train_flow(config: str, refresh: bool = False) -> dict[str, Any]:
    """Train the model in `config` (a training YAML path); `refresh` re-runs every step.

    Args:
        config: path of the training config YAML file (relative to the working directory)
        refresh: ignore cached results and run every step again
    """
    cfg = checked("training")(config)  # every check before the first task
    forking.install()
    stop.reclaim()  # SIGTERM as Ctrl-C, when run from the command line
    results, states = resolve(submit_model(Steps(refresh), cfg, config, None))
    train = {k: v for k, v in results["train"].items() if k != "outputs"}
    rows = [report.step_row("", step, states[step], r) for step, r in results.items()]
    notes = [f"- config: `{config}`", *report.pictures({"run": train["run_dir"]})]
    create_markdown_artifact(
        markdown=report.markdown(f"Training {cfg.experiment.name}", rows, notes),
        key="train-summary",
    )
    return {
        "states": states,
        "train": train,
        "checkpoint": results["checkpoint"]["path"],
        "metrics": {"val": results["validate"]["metrics"]},
        "files": {"run": train["run_dir"], "checkpoint": results["checkpoint"]["path"]},
        "pictures": report.picture_files({"run": train["run_dir"]}),
        "mlflow_uris": [cfg.mlflow.tracking_uri] if cfg.mlflow else [],
        "flow_run_id": str(runtime.flow_run.id),
    }


def run_checked(args, cfg) -> int:
    """After the pre-flight: the flow (flows/cli.py)."""
    from flows.cli import execute

    return execute(args, train_flow, "training")
