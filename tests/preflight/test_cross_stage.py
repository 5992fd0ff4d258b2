"""Cross-stage facts and names checked at load: a metric the run never logs, an SAE input_dim
that is not the VAE's embedding width, a loader that cannot read its stage's file type. Each
fails in `config validate`, the training command and every flow, before anything runs."""

from __future__ import annotations

import pytest

from tests.preflight.workspace import assert_one_line

METRIC = {  # kind -> (changes, the key and text the error holds, commands)
    "alignment": (
        dict(trainer__checkpoint_metric="val_topp1"),
        "trainer.checkpoint_metric: 'val_topp1' is not a metric this run logs (did you mean 'val_top1'?)",
        ["align train", "validate", "flows/alignment.py"],
    ),
    "training": (
        dict(checkpoint__metric="val_losss"),
        "checkpoint.metric: 'val_losss' is not a metric this run logs",
        ["train", "validate", "flows/train.py"],
    ),
    "training_early_stopping": (
        dict(val__early_stopping={"patience": 2, "metric": "val_kl", "direction": "min"}),
        "val.early_stopping.metric: 'val_kl' is not a metric this run logs",
        ["train", "validate", "flows/train.py"],
    ),
    "pipeline": (
        dict(sae__checkpoint__metric="val_los"),
        "sae.checkpoint.metric: 'val_los' is not a metric this run logs",
        ["validate", "flows/vae_sae.py"],
    ),
    "sweep": (
        dict(objective={"metric": "sae.los", "direction": "min"}),
        "objective.metric: 'sae.los' is not a metric the sae stage logs",
        ["validate", "flows/sweep.py"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("case", "command"), [(case, cmd) for case, spec in METRIC.items() for cmd in spec[2]]
)
def test_metric_not_logged(ws, case, command):
    """A misspelt checkpoint metric trained to the end and left no best checkpoint."""
    kind = case.removesuffix("_early_stopping")
    changes, text, _ = METRIC[case]
    path = ws.edit(kind, **changes)
    assert_one_line(ws.run(command, kind), f"error: {path}: {text}")
    assert not (ws.root / "experiments").exists()


def test_alignment_metric_names_are_what_a_run_logs(tmp_path):
    """config.alignment.logged_metrics against the metrics of one real epoch."""
    from alchemi_core.alignment.config import load_alignment_config, logged_metrics
    from tests.spectral.helpers import tiny_config
    from tests.spectral.test_alignment_train import trainer_of

    for changes in ({}, {"cycle.sam_weight": 0.5}, {"rerank": None}):
        path = tiny_config(tmp_path / "d", tmp_path / "out", **changes, **{"trainer.epochs": 1})
        logged = set(trainer_of(path).epoch(1))
        cfg = load_alignment_config(path)
        assert logged == logged_metrics(cfg)


SAE_WIDTH = [
    ("validate", "pipeline"),
    ("flows/vae_sae.py", "pipeline"),
    ("validate", "sweep"),
    ("flows/sweep.py", "sweep"),
]


@pytest.mark.parametrize(("command", "kind"), SAE_WIDTH)
def test_sae_input_dim_is_not_the_vae_latent_dim(ws, command, kind):
    """The flow trained the VAE, then failed."""
    ws.edit("pipeline", sae__model__params__input_dim=7)
    res = ws.run(command, kind)  # a sweep's error names the sweep file and the trial
    assert_one_line(res, f"{ws.path(kind)}: sae.model.params.input_dim: 7 does not match", "4")


def test_sweep_trial_with_another_latent_dim(ws):
    """A sweep over the VAE's latent_dim, the SAE's input_dim fixed: the trial that differs."""
    ws.edit("pipeline", sae__model__params__input_dim=4)
    path = ws.edit("sweep", grid={"vae.model.params.latent_dim": [4, 8]})
    res = ws.run("validate", "sweep")
    assert_one_line(res, f"{path}: sae.model.params.input_dim: 4 does not match", "latent_dim")


LOADER = {  # kind -> (changes, key, commands)
    "pipeline": (
        dict(sae__train__loader_class="TabularDataLoader"),
        "sae.train.loader_class: TabularDataLoader reads .csv",
        ["validate", "flows/vae_sae.py"],
    ),
    "sweep": (
        None,  # the pipeline's change, through the sweep
        "sae.train.loader_class: TabularDataLoader reads .csv",
        ["validate", "flows/sweep.py"],
    ),
    "training": (
        dict(val__loader_class="EmbeddingDataLoader"),
        "val.loader_class: EmbeddingDataLoader reads .npy files, not ./data/penguins/val.csv",
        ["train", "validate", "flows/train.py"],
    ),
}


@pytest.mark.parametrize(
    ("kind", "command"), [(kind, cmd) for kind, spec in LOADER.items() for cmd in spec[2]]
)
def test_loader_cannot_read_the_file_type(ws, kind, command):
    """TabularDataLoader on the VAE's .npy embeddings passed validate and failed mid-flow."""
    changes, text, _ = LOADER[kind]
    ws.edit(kind, **changes) if changes else ws.edit("pipeline", **LOADER["pipeline"][0])
    assert_one_line(ws.run(command, kind), f"{ws.path(kind)}: {text}")


def _extract_config(ws, vae_run, **changes):
    """The shipped extract config on the workspace data, reading the session's debug VAE."""
    import yaml

    from tests.conftest import ROOT, set_dotted

    data = yaml.safe_load((ROOT / "configs/extract/penguins_debug.yaml").read_text())
    data["checkpoint"]["path"] = str(vae_run / "checkpoints")
    data["data"]["cardinalities_path"] = str(ws.penguins / "cardinalities.json")
    for split in ("train", "val", "test"):
        data[split]["data_path"] = str(ws.penguins / f"{split}.csv")
        data[split]["output"] = str(ws.root / "out" / f"{split}.npy")
    path = ws.root / "extract.yaml"
    path.write_text(yaml.safe_dump(set_dotted(data, changes), sort_keys=False))
    return path


CKPT = {  # changes to the extract config -> (key, text)
    "model_class": (dict(model={"class": "SAE"}), "model.class: 'SAE' does not match"),
    "columns": (
        dict(data__columns__categorical=["species", "island"]),
        "data.columns.categorical: categorical",  # then the columns, then "differs from"
    ),
}


@pytest.mark.parametrize("command", ["validate", "extract"])
@pytest.mark.parametrize("case", list(CKPT))
def test_extract_config_against_its_checkpoint(ws, vae_run, command, case, capsys):
    from tests.reliability_helpers import run_cli

    changes, text = CKPT[case]
    path = _extract_config(ws, vae_run, **changes)
    argv = ["config", "validate", path] if command == "validate" else ["extract", "--config", path]
    code, _, err = run_cli(argv, capsys)
    from tests.preflight.workspace import Result

    assert_one_line(Result(code, "", err), f"error: {path}: {text}", "checkpoint")
    assert not (ws.root / "out").exists()


@pytest.mark.parametrize("command", ["validate", "flows/sweep.py"])
def test_sweep_checks_the_data_of_every_trial(ws, command):
    """A sweep over the VAE's data file: the second trial's file is checked too."""
    grid = {"vae.train.data_path": ["./data/penguins/train.csv", "./data/penguins/other.csv"]}
    ws.edit("sweep", grid=grid)
    assert_one_line(ws.run(command, "sweep"), "data/penguins/other.csv", "not found")
    assert not (ws.root / "experiments").exists()
