"""`alchemi config validate` and `alchemi config show`, on every shipped config and on bad ones."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import pytest
import yaml

from alchemi_core.cli import main
from alchemi_core.config.kinds import kind_of
from alchemi_core.config.loading import load_config
from tests.conftest import ROOT
from tests.shipped import cwd

SHIPPED = sorted((ROOT / "configs").rglob("*.yaml"))
FOLDER_KIND = {
    "vae": "training",
    "sae": "training",
    "extract": "extract",
    "predict": "predict",
    "pipelines": "pipeline",
    "sweeps": "sweep",
    "mae": "mae",
    "configs": "mae",  # configs/train.mae.yaml, the path the spec names
    "phase2": "alignment",
}
ids = lambda p: str(p.relative_to(ROOT / "configs"))  # noqa: E731


def run(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_every_folder_under_configs_has_a_kind():
    assert {p.parent.name for p in SHIPPED} == set(FOLDER_KIND)


@pytest.mark.parametrize("path", SHIPPED, ids=ids)
def test_shipped_config_validates_deeply(path, shipped_workspace, capsys):
    with cwd(shipped_workspace):
        code, out, err = run(["config", "validate", str(path)], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == f"ok: {path} ({FOLDER_KIND[path.parent.name]})"


@pytest.mark.parametrize("path", SHIPPED, ids=ids)
def test_kind_is_told_by_keys_outside_configs(path, tmp_path):
    copy = tmp_path / "some_folder" / "file.yaml"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    assert kind_of(copy).name == FOLDER_KIND[path.parent.name]


@pytest.mark.parametrize("path", SHIPPED, ids=ids)
def test_shipped_config_shows_as_yaml(path, shipped_workspace, capsys):
    with cwd(shipped_workspace):
        code, out, err = run(["config", "show", str(path)], capsys)
    assert code == 0, err
    shown = yaml.safe_load(out)
    assert isinstance(shown, dict) and shown


def _vae_copy(tmp_path, edit=None) -> str:
    data = yaml.safe_load((ROOT / "configs/vae/penguins_debug.yaml").read_text())
    if edit:
        edit(data)
    path = tmp_path / "vae" / "cfg.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_validate_names_a_missing_column(tmp_path, shipped_workspace, capsys):
    def edit(d):
        d["data"]["columns"]["numerical"][0] = "bill_lenght_mm"

    path = _vae_copy(tmp_path, edit)
    with cwd(shipped_workspace):
        code, out, err = run(["config", "validate", path], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: data/penguins/train.csv: bill_lenght_mm: column not found")
    assert "did you mean 'bill_length_mm'" in err and err.count("\n") == 1


def test_validate_names_a_missing_file_and_trains_nothing(tmp_path, capsys):
    path = _vae_copy(tmp_path)  # cwd has no data/
    with cwd(tmp_path):
        code, _, err = run(["config", "validate", path], capsys)
        assert not (tmp_path / "experiments").exists()
    assert code == 2 and err == "error: data/penguins/train.csv: table file not found\n"


def test_validate_reads_only_the_header(tmp_path, shipped_workspace, capsys):
    """A bad value in a row is the loader's to find; validate reads the header line only."""
    bad = tmp_path / "train.csv"
    lines = (shipped_workspace / "data/penguins/train.csv").read_text().splitlines()
    lines[3] = "x" + lines[3][1:]  # a non-number in the first (numerical) column
    bad.write_text("\n".join(lines) + "\n")

    def edit(d):
        d["train"]["data_path"] = str(bad)

    path = _vae_copy(tmp_path, edit)
    with cwd(shipped_workspace):
        assert run(["config", "validate", path], capsys)[0] == 0
        code, _, err = run(["train", "--config", path], capsys)
    assert code == 2 and "non-numeric value" in err


def test_validate_checks_a_parquet_schema(tmp_path, penguins_parquet_dir, capsys):
    def edit(d):
        d["train"]["data_path"] = str(penguins_parquet_dir / "train.parquet")
        d["val"]["data_path"] = str(penguins_parquet_dir / "val.parquet")
        d["data"]["cardinalities_path"] = str(penguins_parquet_dir / "cardinalities.json")
        d["data"]["columns"]["categorical"].append("colour")
        d["data"]["cardinalities_path"] = str(penguins_parquet_dir / "cardinalities.json")

    path = _vae_copy(tmp_path, edit)
    code, _, err = run(["config", "validate", path], capsys)
    assert code == 2 and ": colour: column not found" in err and "train.parquet" in err


def test_validate_many_files_reports_each(tmp_path, shipped_workspace, capsys):
    bad = _vae_copy(tmp_path, lambda d: d["model"]["params"].update(latent_dim=0))
    good = str(ROOT / "configs/vae/penguins_debug.yaml")
    with cwd(shipped_workspace):
        code, out, err = run(["config", "validate", good, bad], capsys)
    assert code == 2 and out.startswith(f"ok: {good}")
    assert err.startswith(f"error: {bad}: model.params.latent_dim: ")


def test_validate_checks_every_sweep_trial(tmp_path, shipped_workspace, capsys):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    sweep = tmp_path / "configs/sweeps/penguins_sae_tiny.yaml"
    data = yaml.safe_load(sweep.read_text())
    data["grid"]["sae.model.params.hidden_dim"] = [4, -8]
    sweep.write_text(yaml.safe_dump(data))
    with cwd(shipped_workspace):
        code, _, err = run(["config", "validate", str(sweep)], capsys)
    assert code == 2 and "sae.model.params.hidden_dim: Input should be greater than 0" in err


def test_show_fills_defaults_applies_set_and_masks_secrets(tmp_path, capsys):
    def edit(d):
        d["train"]["loss"]["params"] = {"beta": 0.5}
        d["mlflow"] = {
            "tracking_uri": "http://127.0.0.1:5000",
            "experiment_name": "x",
            "credentials": {"username": "me", "password": "hunter2-secret"},
        }

    path = _vae_copy(tmp_path, edit)
    code, out, err = run(["config", "show", path, "--set", "train.epochs=7"], capsys)
    assert code == 0, err
    shown = yaml.safe_load(out)
    assert "hunter2-secret" not in out and shown["mlflow"]["credentials"]["password"] == "***"
    assert shown["train"]["epochs"] == 7
    assert shown["train"]["loss"]["params"] == {
        "beta": 0.5,
        "reconstruction_weight": 1.0,
        "kl_warmup_epochs": 0,
        "free_bits": 0.0,
        "balance": "columns",
        "numerical_weight": 1.0,
        "categorical_weight": 1.0,
        "embedding_weight": 1.0,
    }
    assert shown["model"]["params"]["cat_embedding_dim"] is None
    assert shown["train"]["loader_params"]["drop_last"] is False
    assert shown["global"]["seed"] == 7 and shown["global"]["dtype"] == "float32"
    again = tmp_path / "vae" / "shown.yaml"
    again.write_text(out)
    assert load_config(again).train.epochs == 7  # the shown config loads back


def test_show_pipeline_with_stage_override(capsys):
    path = str(ROOT / "configs/pipelines/penguins_debug.yaml")
    code, out, _ = run(["config", "show", path, "--set", "vae.train.epochs=1"], capsys)
    shown = yaml.safe_load(out)
    assert code == 0 and shown["vae"]["train"]["epochs"] == 1
    assert shown["sae"]["model"]["params"]["hidden_dim"] == 8


def test_unknown_kind_is_a_user_error(capsys):
    path = str(ROOT / "configs/vae/penguins_debug.yaml")
    code, _, err = run(["config", "show", path, "--kind", "pipelin"], capsys)
    assert code == 2 and "did you mean 'pipeline'" in err


def test_help_and_validate_do_not_import_mlflow_or_prefect(shipped_workspace):
    script = (
        "import sys\n"
        "from alchemi_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'mlflow', 'prefect') if m in sys.modules))\n"
        f"code = main(['config', 'validate', {str(ROOT / 'configs/vae/diamonds.yaml')!r}])\n"
        "print(code, sorted(m for m in ('mlflow', 'prefect') if m in sys.modules))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=shipped_workspace, capture_output=True, text=True
    )
    lines = res.stdout.strip().splitlines()
    assert lines[-3] == "[]" and lines[-1] == "0 []", res.stdout + res.stderr


@pytest.mark.parametrize(("flag", "level"), [("-q", logging.WARNING), ("-v", logging.DEBUG)])
def test_quiet_and_verbose_set_the_log_level(flag, level, shipped_workspace, capsys):
    path = str(ROOT / "configs/vae/penguins_debug.yaml")
    with cwd(shipped_workspace):
        assert run([flag, "config", "validate", path], capsys)[0] == 0
    assert logging.getLogger("alchemi").level == level


@pytest.mark.parametrize(
    ("glob", "words"),
    [
        ({"amp_dtype": "fp16", "device": "cpu"}, "fp16 autocast is not supported on CPU"),
        ({"device": "cuda:7"}, "cuda"),
    ],
)
def test_validate_checks_the_runtime_block(tmp_path, shipped_workspace, capsys, glob, words):
    import torch

    if "cuda" in glob.get("device", "") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    path = _vae_copy(tmp_path, lambda d: d["global"].update(glob))
    with cwd(shipped_workspace):
        code, _, err = run(["config", "validate", path], capsys)
    assert code == 2 and words in err and err.count("\n") == 1
