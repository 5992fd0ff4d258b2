"""Readable flow run names. (The flows' parameters are typed, and described in their
docstrings' Args sections: Prefect turns both into the form its UI shows.)"""

from __future__ import annotations

from pathlib import Path


def run_name(kind: str):
    """A flow_run_name callable: '<kind> <config stem>: <model> <experiment> -> ...'."""

    def name() -> str:
        from prefect import runtime

        config = str(runtime.flow_run.parameters.get("config", ""))
        return f"{kind} {Path(config).stem}{describe(config)}"

    return name


def describe(config: str) -> str:
    """': VAE baseline -> SAE baseline' for a pipeline, ': VAE debug' for a training file."""
    from alchemi_core.config.loading import read_yaml

    try:
        data = read_yaml(config)
        parts = [data] if "model" in data else [data.get(k) for k in ("vae", "sae")]
        parts = [  # a stage given as a file path, relative to the pipeline file
            read_yaml(Path(config).parent / p) if isinstance(p, str) else p for p in parts
        ]
        labels = [label(p) for p in parts if isinstance(p, dict) and "experiment" in p]
    except Exception:  # noqa: BLE001 - a name is never worth a failure; validation reports it
        return ""
    return f": {' -> '.join(labels)}" if labels else ""


def label(stage: dict) -> str:
    """'VAE baseline' (model class and experiment name); an alignment or MAE config, whose
    model has no class: the experiment name."""
    model = stage.get("model")
    name = str(stage["experiment"]["name"])
    return f"{model['class']} {name}" if isinstance(model, dict) and "class" in model else name
