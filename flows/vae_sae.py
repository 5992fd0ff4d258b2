"""VAE -> SAE: train the VAE, extract its embeddings, train the SAE on them, predict if asked.

    python flows/vae_sae.py --config configs/pipelines/penguins_debug.yaml [--refresh] [--record]

Every step is a cached task (see tasks/caching.py): an unchanged re-run shows every step Cached.
From the command line, a re-run where nothing changed is answered from those cache records
without starting Prefect (flows/cached.py); `--record` runs (and records) the flow anyway.
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

    return command(__doc__, "pipeline", "flows.vae_sae:run_checked", argv, cached=True)


if __name__ == "__main__":
    sys.exit(main())


from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact

from alchemi_core.config import pipeline as pl
from alchemi_core.config import steps as step_cfg
from alchemi_core.config.preflight import checked
from alchemi_core.run import stop
from flows import report
from flows.params import run_name
from flows.stages import (
    Steps,
    resolve,
    result,
    submit_predict,
    submit_report,
    submit_sae,
    submit_vae,
)  # fmt: skip
from tasks import forking


def run_pipeline(pipe: pl.Pipeline, steps: Steps) -> dict[str, Any]:
    """Submit both stages; returns {stage: {step: result}} and {stage.step: state name}."""
    vae = submit_vae(steps, pipe)
    embeddings = result(vae, "extract")
    sae = submit_sae(steps, pipe, embeddings)
    stages = {"vae": vae, "sae": dict(sae[1])}
    latents = submit_report(steps, pipe, sae, embeddings)
    if latents is not None:
        stages["sae"]["report"] = latents
    if pipe.spec.predict:
        stages[pipe.spec.predict.model]["predict"] = submit_predict(
            steps, pipe, vae, sae, embeddings
        )
    results, states = {}, {}
    for stage, futs in stages.items():
        results[stage], st = resolve(futs)
        states.update({f"{stage}.{k}": v for k, v in st.items()})
    return {"results": results, "states": states, "sae_config": sae[0]}


def link(pipe: pl.Pipeline, results: dict[str, Any], sae_cfg, steps: Steps) -> dict[str, str]:
    """Tag the SAE's MLflow run with its VAE run and embedding hash; links to both runs."""
    if sae_cfg.mlflow is None or not results["sae"]["train"].get("mlflow_run_id"):
        return {}
    runs = {"sae": results["sae"]["train"]["mlflow_run_id"]}
    vae_run = results["vae"]["train"].get("mlflow_run_id")
    if vae_run and pipe.vae.mlflow and pipe.vae.mlflow.tracking_uri == sae_cfg.mlflow.tracking_uri:
        runs = {"vae": vae_run, **runs}
    splits = results["vae"]["extract"]["splits"]
    tags = {
        "alchemi.vae_run_id": str(vae_run),
        "alchemi.vae_run_dir": results["vae"]["train"]["run_dir"],
        "alchemi.vae_checkpoint_sha256": results["vae"]["checkpoint"]["sha256"],
        **{f"alchemi.embeddings.{s}.sha256": v["sha256"] for s, v in splits.items()},
    }
    mlflow = step_cfg.dump(sae_cfg)["mlflow"]
    names = {"vae": f"VAE {pipe.vae.experiment.name}", "sae": f"SAE {sae_cfg.experiment.name}"}
    task = steps.link.with_options(
        task_run_name="link runs: " + " -> ".join(names[k] for k in runs)
    )
    return task(mlflow, runs, tags)["links"]


def summarize(pipe: pl.Pipeline, out: dict[str, Any], links: dict[str, str]) -> str:
    rows = [
        report.step_row(stage, step, out["states"][f"{stage}.{step}"], result)
        for stage, steps in out["results"].items()
        for step, result in steps.items()
    ]
    notes = [f"- pipeline: `{pipe.source}`"]
    notes += [f"- MLflow {stage}: {link}" for stage, link in links.items()]
    notes += report.latent_notes(out["results"]["sae"].get("report"))
    notes += report.pictures(run_dirs(out["results"]))
    return report.markdown("VAE -> SAE pipeline", rows, notes)


def run_dirs(results: dict[str, Any]) -> dict[str, str]:
    return {stage: steps["train"]["run_dir"] for stage, steps in results.items()}


def files(results: dict[str, Any]) -> dict[str, str]:
    """What a person looks for: run folders, embeddings, predictions."""
    out = {f"{stage} run": path for stage, path in run_dirs(results).items()}
    for split, v in results["vae"]["extract"]["splits"].items():
        out[f"emb. {split}"] = v["path"]
    for steps in results.values():
        if "predict" in steps:
            out["predictions"] = steps["predict"]["path"]
    if "report" in results["sae"]:
        out["latent report"] = results["sae"]["report"]["report_html"]
    return out


def outcome(pipe: pl.Pipeline, steps: Steps) -> tuple[dict[str, Any], str]:
    """The flow's result (without its run id) and its summary markdown, from `steps`."""
    out = run_pipeline(pipe, steps)
    links = link(pipe, out["results"], out["sae_config"], steps)
    res = out["results"]
    result = {
        "states": out["states"],
        "vae": {k: v for k, v in res["vae"]["train"].items() if k != "outputs"},
        "sae": {k: v for k, v in res["sae"]["train"].items() if k != "outputs"},
        "metrics": {stage: res[stage]["validate"]["metrics"] for stage in res},
        "embeddings": res["vae"]["extract"]["splits"],
        "predict": next((r["predict"] for r in res.values() if "predict" in r), None),
        "links": links,
        "flow_run_id": None,
        "files": files(res),
        "pictures": report.picture_files(run_dirs(res)),
        "mlflow_uris": [c.mlflow.tracking_uri for c in (pipe.vae, out["sae_config"]) if c.mlflow],
    }
    return result, summarize(pipe, out, links)


@flow(name="vae-then-sae", flow_run_name=run_name("vae-sae"))
def vae_then_sae_flow(config: str, refresh: bool = False) -> dict[str, Any]:
    """Run the pipeline in `config` (a pipeline YAML path); `refresh` re-runs every step.

    Args:
        config: path of the pipeline YAML file (relative to the working directory)
        refresh: ignore cached results and run every step again
    """
    pipe = checked("pipeline")(config)  # every check before the first task
    forking.install()
    stop.reclaim()  # SIGTERM as Ctrl-C, when run from the command line
    result, markdown = outcome(pipe, Steps(refresh))
    create_markdown_artifact(markdown=markdown, key="vae-sae-summary", description=pipe.source)
    return {**result, "flow_run_id": str(runtime.flow_run.id)}


def run_checked(args, pipe: pl.Pipeline) -> int:
    """After the pre-flight: the cached answer, else the flow (flows/cli.py)."""
    from functools import partial

    from flows.cached import answer
    from flows.cli import execute

    return execute(args, vae_then_sae_flow, "VAE -> SAE pipeline", partial(answer, outcome=outcome))
