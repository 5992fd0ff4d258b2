"""The configuration reference page: every key of every config kind, from the schemas."""

from __future__ import annotations

from pydantic import BaseModel

from alchemi_core.reference import table

KIND_NOTES = {
    "training": "A VAE or SAE training config (`configs/vae/`, `configs/sae/`): `alchemi train`.",
    "extract": "Embeddings from a checkpoint (`configs/extract/`): `alchemi extract`, "
    "`scripts/extract_embeddings.py`.",
    "predict": "Predictions and metrics from a checkpoint (`configs/predict/`): "
    "`alchemi predict`, `scripts/predict.py`.",
    "pipeline": "The VAE -> SAE flow (`configs/pipelines/`): `flows/vae_sae.py`. `vae` and `sae` "
    "are training configs, inline or as a path relative to the pipeline file.",
    "sweep": "A sweep over a pipeline (`configs/sweeps/`): `flows/sweep.py`.",
    "alignment": "The spectral alignment stack (`configs/phase2/`): `alchemi align train`, "
    "`AlignmentTrainer.from_yaml`.",
    "mae": "The synthetic MAE harness (`configs/mae/`, `configs/train.mae.yaml`): "
    "`alchemi pretrain-mae`, `run_pretrain_mae`.",
}


def config_kinds() -> list[tuple[str, type[BaseModel]]]:
    """(name, schema) of every config kind, plus the alignment extract config."""
    from alchemi_core.config.kinds import KINDS, _builtin
    from alchemi_core.inference.alignment import AlignExtractConfig

    _builtin()
    found = [
        (k.name, k.schema)
        for k in KINDS.values()
        if k.schema is not None and k.schema.__module__.startswith("alchemi_core.")
    ]
    order = list(KIND_NOTES)
    found.sort(key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    return [*found, ("alignment extract", AlignExtractConfig)]


def config_reference() -> str:
    """Every key of every config kind, one table per kind."""
    from alchemi_core.config.schema import TrainingConfig

    out = [
        "# Configuration reference",
        "",
        "Generated from the pydantic schemas by `scripts/gen_docs.py` (`make docs`); a test "
        "fails when this page is stale. Every section refuses unknown keys (with a "
        "did-you-mean), missing required keys and wrong types. `--set dotted.key=value` "
        "overrides any key on the command line. A `[]` in a key is a list of sections.",
        "",
        "The `params` of a model and a loss, and a loader's `loader_params`, are checked "
        "against the class's params model: see [Parameters](params/index.md).",
    ]
    for name, schema in config_kinds():
        note = KIND_NOTES.get(
            name, "An alignment tower's embeddings: `alchemi extract` with `tower`."
        )
        skip = (TrainingConfig,) if name != "training" else ()
        out += ["", f"## {name}", "", note, "", table(schema, skip=skip)]
    return "\n".join(out) + "\n"
