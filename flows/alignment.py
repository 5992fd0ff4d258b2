"""Alignment: train the lab<->sensor model, then evaluate it on every training and held-out
sensor of its config (sensor -> lab retrieval over the config's lab library).

    python flows/alignment.py --config configs/phase2/alignment.yaml [--refresh]

Every step is a cached task (tasks/caching.py): an unchanged re-run shows every step Cached.
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

    return command(__doc__, "alignment", "flows.alignment:run_checked", argv)


if __name__ == "__main__":
    sys.exit(main())


from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact

from alchemi_core.config.preflight import checked
from alchemi_core.run import checkpoints, stop
from flows import report
from flows.params import run_name
from tasks.align import align_eval, align_train
from tasks.step import limited

EVAL_KEYS = ("top1", "recall_at_5", "mean_rank", "n", "rmse", "sam_deg")


@flow(name="alignment", flow_run_name=run_name("alignment"))
def alignment_flow(
    config: str, refresh: bool = False, noise: float | None = None, seed: int = 0
) -> dict[str, Any]:
    """Train per `config` (an alignment YAML), then evaluate each sensor at `noise`
    (default: the config's data.noise)."""
    cfg = checked("alignment")(config)  # every check before the first task
    stop.reclaim()  # SIGTERM as Ctrl-C, when run from the command line
    dumped = cfg.model_dump(mode="json", by_alias=True)
    train_task = limited(align_train).with_options(
        refresh_cache=refresh or None, task_run_name=f"align-train {cfg.experiment.name}"
    )
    state = train_task(dumped, source=config, fresh=refresh, return_state=True)
    trained = state.result()
    states = {"train": state.name}
    run_dir = trained["run_dir"]
    ckpt = str(checkpoints.resolve(run_dir, "best"))
    held_out = set(cfg.data.eval_sensor_paths)
    futures = {
        Path(p).stem: align_eval.with_options(
            refresh_cache=refresh or None, task_run_name=eval_name(cfg.experiment.name, p, held_out)
        ).submit(run_dir, ckpt, cfg.data.lab_path, p, noise, seed)
        for p in [*cfg.data.sensor_paths, *cfg.data.eval_sensor_paths]
    }
    evals = {name: f.result() for name, f in futures.items()}
    states.update({f"eval.{name}": f.state.name for name, f in futures.items()})
    held = {Path(p).stem for p in cfg.data.eval_sensor_paths}
    scores = {k: {m: v[m] for m in EVAL_KEYS} | {"held_out": k in held} for k, v in evals.items()}
    train = {k: v for k, v in trained.items() if k != "outputs"}
    create_markdown_artifact(
        markdown=summary(config, cfg.experiment.name, states, train, scores),
        key="alignment-summary",
    )
    return {
        "states": states,
        "train": train,
        "eval": scores,
        "metrics": {k: {m: v[m] for m in EVAL_KEYS if v[m] is not None} for k, v in scores.items()},
        "files": {"run": run_dir, "checkpoint": ckpt},
        "pictures": report.picture_files({"alignment": run_dir}),
        "mlflow_uris": [cfg.mlflow.tracking_uri] if cfg.mlflow else [],
        "flow_run_id": str(runtime.flow_run.id),
    }


def eval_name(experiment: str, sensor_path: str, held_out: set[str]) -> str:
    """'align-eval alignment: rapideye (held out)'."""
    kind = "held out" if sensor_path in held_out else "training"
    return f"align-eval {experiment}: {Path(sensor_path).stem} ({kind})"


def summary(config: str, name: str, states: dict, train: dict, scores: dict) -> str:
    """The flow run's markdown: one row per step, then the run's pictures."""
    rows = [report.step_row("", "train", states["train"], train)]
    for sensor, m in scores.items():
        kind = "held out" if m["held_out"] else "training"
        metrics = {k: v for k, v in m.items() if k != "held_out" and v is not None}
        result = {"metrics": metrics, "path": f"{sensor} ({kind} sensor)"}
        rows.append(report.step_row("", f"eval {sensor}", states[f"eval.{sensor}"], result))
    notes = [f"- config: `{config}`", f"- run folder: `{train['run_dir']}`"]
    if train.get("mlflow_run_id"):
        notes.append(f"- MLflow run: `{train['mlflow_run_id']}`")
    notes += report.pictures({"alignment": train["run_dir"]})
    return report.markdown(f"Alignment {name}", rows, notes)


def run_checked(args, cfg) -> int:
    """After the pre-flight: the flow (flows/cli.py)."""
    from flows.cli import execute

    return execute(args, alignment_flow, "alignment")
