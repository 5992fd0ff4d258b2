"""A corpus of broken inputs: each gives exit 2, one line `error: <file>: <key or column>: ...`,
no traceback, and leaves no output folder or half-written file behind."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import debug_config_dict
from tests.reliability_helpers import alchemi, run_cli


@dataclass
class Ctx:
    tmp: Path
    data: Path  # a private copy of the penguins split files

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    @property
    def config(self) -> Path:
        return self.tmp / "cfg.yaml"

    def cfg(self, drop: tuple[str, ...] = (), **changes) -> Path:
        data = debug_config_dict(self.data, self.out, **changes)
        for dotted in drop:
            *parents, last = dotted.split("__")
            node = data
            for p in parents:
                node = node[p]
            del node[last]
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config

    def edit_csv(self, split: str, fn) -> Path:
        path = self.data / f"{split}.csv"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(fn(lines)) + "\n")
        return path


CASES: dict[str, tuple] = {}


def case(name: str, file: str, key: str | None, pre_existing: bool = False):
    """file: 'cfg', 'set', or a path relative to the data copy ('data:train.csv')."""

    def deco(fn):
        CASES[name] = (fn, file, key, pre_existing)
        return fn

    return deco


def train(ctx: Ctx, *extra) -> list:
    return ["train", "--config", ctx.config, *extra]


# -- the config file itself -----------------------------------------------------------
@case("yaml_syntax_error", "cfg", "line 4")
def _(c):
    c.config.write_text("experiment:\n  name: x\n  output_dir: [unclosed\n")
    return train(c)


@case("yaml_tab_indent", "cfg", "line 2")
def _(c):
    c.config.write_text("experiment:\n\tname: x\n")
    return train(c)


@case("yaml_duplicate_colon", "cfg", "line 1")
def _(c):
    c.config.write_text("experiment: name: x\n")
    return train(c)


@case("config_empty", "cfg", None)
def _(c):
    c.config.write_text("")
    return train(c)


@case("config_top_level_list", "cfg", None)
def _(c):
    c.config.write_text("- a\n- b\n")
    return train(c)


@case("config_missing", "cfg", None)
def _(c):
    return train(c)


@case("config_is_a_folder", "cfg", None)
def _(c):
    c.config.mkdir()
    return train(c)


@case("config_binary", "cfg", None)
def _(c):
    c.config.write_bytes(b"\xff\xfe\x00\x81binary")
    return train(c)


# -- keys -----------------------------------------------------------------------------
@case("unknown_top_level_key", "cfg", "trian")
def _(c):
    c.cfg(trian={"epochs": 1})
    return train(c)


@case("unknown_nested_key", "cfg", "train.epoch")
def _(c):
    c.cfg(train__epoch=3)
    return train(c)


@case("missing_key", "cfg", "experiment.name")
def _(c):
    c.cfg(drop=("experiment__name",))
    return train(c)


@case("missing_section", "cfg", "checkpoint")
def _(c):
    c.cfg(drop=("checkpoint",))
    return train(c)


@case("set_unknown_key", "set", "train.nope")
def _(c):
    c.cfg()
    return train(c, "--set", "train.nope=1")


@case("set_unknown_section", "set", "trainn")
def _(c):
    c.cfg()
    return train(c, "--set", "trainn.epochs=1")


@case("set_without_equals", "set", None)
def _(c):
    c.cfg()
    return train(c, "--set", "train.epochs")


@case("set_wrong_type", "cfg", "train.epochs")
def _(c):
    c.cfg()
    return train(c, "--set", "train.epochs=many")


# -- types, enums, impossible values ----------------------------------------------------
@case("epochs_not_a_number", "cfg", "train.epochs")
def _(c):
    c.cfg(train__epochs="three")
    return train(c)


@case("batch_size_a_list", "cfg", "train.loader_params.batch_size")
def _(c):
    c.cfg(train__loader_params__batch_size=[32])
    return train(c)


@case("shuffle_not_bool", "cfg", "train.loader_params.shuffle")
def _(c):
    c.cfg(train__loader_params__shuffle="maybe")
    return train(c)


@case("section_is_a_string", "cfg", "model")
def _(c):
    c.cfg(model="VAE")
    return train(c)


@case("bad_enum_checkpoint_mode", "cfg", "checkpoint.mode")
def _(c):
    c.cfg(checkpoint__mode="minimum")
    return train(c)


@case("bad_enum_save_strategy", "cfg", "checkpoint.save_strategy")
def _(c):
    c.cfg(checkpoint__save_strategy="sometimes")
    return train(c)


@case("bad_enum_dtype", "cfg", "global.dtype")
def _(c):
    c.cfg(global__dtype="float8")
    return train(c)


@case("bad_enum_early_stopping_direction", "cfg", "val.early_stopping.direction")
def _(c):
    es = {"patience": 2, "metric": "val_loss", "direction": "down"}
    c.cfg(val__early_stopping=es)
    return train(c)


@case("bad_device", "cfg", "global.device")
def _(c):
    c.cfg(global__device="tpu")
    return train(c)


@case("negative_batch_size", "cfg", "train.loader_params.batch_size")
def _(c):
    c.cfg(train__loader_params__batch_size=-32)
    return train(c)


@case("zero_epochs", "cfg", "train.epochs")
def _(c):
    c.cfg(train__epochs=0)
    return train(c)


@case("patience_zero", "cfg", "val.early_stopping.patience")
def _(c):
    c.cfg(val__early_stopping={"patience": 0, "metric": "val_loss", "direction": "min"})
    return train(c)


@case("negative_learning_rate", "cfg", "train.optimizer_config.learning_rate")
def _(c):
    c.cfg(train__optimizer_config__learning_rate=-0.1)
    return train(c)


@case("negative_workers", "cfg", "train.loader_params.num_workers")
def _(c):
    c.cfg(train__loader_params__num_workers=-1)
    return train(c)


@case("val_frequency_above_epochs", "cfg", "val.frequency")
def _(c):
    c.cfg(val__frequency=10)
    return train(c)


@case("fp16_autocast_on_cpu", "cfg", "global.amp_dtype")
def _(c):
    c.cfg(global__amp_dtype="fp16")
    return train(c)


@case("no_columns", "cfg", "data.columns")
def _(c):
    c.cfg(data__columns={"numerical": [], "categorical": [], "embeddings": []})
    return train(c)


@case("column_listed_twice", "cfg", "data.columns")
def _(c):
    c.cfg(data__columns={"numerical": ["bill_length_mm", "bill_length_mm"]})
    return train(c)


# -- names the registries and torch do not know ----------------------------------------
@case("unknown_model_class", "cfg", "model.class")
def _(c):
    c.cfg(model={"class": "VEA", "params": {"latent_dim": 4}})
    return train(c)


@case("unknown_model_param", "cfg", "model.params.latent_dimm")
def _(c):
    c.cfg(model={"class": "VAE", "params": {"latent_dimm": 4}})
    return train(c)


@case("unknown_loss_class", "cfg", "train.loss.class")
def _(c):
    c.cfg(train__loss={"class": "VAELos"})
    return train(c)


@case("impossible_loss_param", "cfg", "train.loss.params")
def _(c):
    c.cfg(train__loss={"class": "VAELoss", "params": {"beta": -1.0}})
    return train(c)


@case("unknown_loader_class", "cfg", "train.loader_class")
def _(c):
    c.cfg(train__loader_class="CsvLoader")
    return train(c)


@case("unknown_optimizer", "cfg", "train.optimizer_config.optimizer")
def _(c):
    c.cfg(train__optimizer_config={"optimizer": "Adamm", "learning_rate": 0.01})
    return train(c)


@case("unknown_optimizer_kwarg", "cfg", "train.optimizer_config.weight_decy")
def _(c):
    opt = {"optimizer": "Adam", "learning_rate": 0.01, "weight_decy": 0.1}
    c.cfg(train__optimizer_config=opt)
    return train(c)


@case("unknown_scheduler", "cfg", "train.scheduler.name")
def _(c):
    c.cfg(train__scheduler={"name": "StepLRR", "step_size": 1})
    return train(c)


@case("metric_not_logged", "cfg", "checkpoint.metric")
def _(c):
    c.cfg(checkpoint__metric="val_accuracy")
    return train(c)


@case("val_metric_without_val", "cfg", "checkpoint.metric")
def _(c):
    c.cfg(drop=("val",))
    return train(c)


@case("import_missing_module", "cfg", "imports[0]")
def _(c):
    c.cfg(imports=["no_such_module_anywhere"])
    return train(c)


@case("experiment_name_dotdot", "cfg", "experiment.name")
def _(c):
    c.cfg(experiment__name="../escape")
    return train(c)


@case("experiment_name_slash", "cfg", "experiment.name")
def _(c):
    c.cfg(experiment__name="a/b")
    return train(c)


@case("set_experiment_name_absolute", "cfg", "experiment.name")
def _(c):
    c.cfg()
    return train(c, "--set", "experiment.name=/etc")


# -- data files -------------------------------------------------------------------------
@case("train_file_missing", "data:nope.csv", None)
def _(c):
    c.cfg(train__data_path=str(c.data / "nope.csv"))
    return train(c)


@case("train_file_empty", "data:train.csv", None)
def _(c):
    (c.data / "train.csv").write_text("")
    c.cfg()
    return train(c)


@case("train_file_header_only", "data:train.csv", None)
def _(c):
    c.edit_csv("train", lambda lines: lines[:1])
    c.cfg()
    return train(c)


@case("train_path_is_a_folder", "data:folder.csv", None)
def _(c):
    (c.data / "folder.csv").mkdir()
    c.cfg(train__data_path=str(c.data / "folder.csv"))
    return train(c)


@case("train_file_wrong_suffix", "data:train.txt", None)
def _(c):
    shutil.copy(c.data / "train.csv", c.data / "train.txt")
    c.cfg(train__data_path=str(c.data / "train.txt"))
    return train(c)


@case("column_not_in_file", "data:train.csv", "bill_lenght_mm")
def _(c):
    cols = {"numerical": ["bill_lenght_mm"], "categorical": ["species"], "embeddings": []}
    c.cfg(data__columns=cols)
    return train(c)


@case("column_dropped_from_file", "data:train.csv", "sex")
def _(c):
    c.edit_csv("train", lambda lines: [ln.rsplit(",", 1)[0] for ln in lines])
    c.cfg()
    return train(c)


@case("unknown_category", "data:train.csv", "species")
def _(c):
    c.edit_csv("train", lambda lines: [*lines, lines[1].replace("Adelie", "Unicorn")])
    c.cfg()
    return train(c)


@case("missing_category", "data:train.csv", "island")
def _(c):
    c.edit_csv("train", lambda lines: [*lines, lines[1].replace(",Torgersen,", ",,")])
    c.cfg()
    return train(c)


@case("nan_in_numerical", "data:train.csv", "bill_depth_mm")
def _(c):
    bad = lines_with(1, "nan")
    c.edit_csv("train", lambda lines: [*lines, bad(lines[1])])
    c.cfg()
    return train(c)


@case("text_in_numerical", "data:train.csv", "bill_depth_mm")
def _(c):
    bad = lines_with(1, "deep")
    c.edit_csv("train", lambda lines: [*lines, bad(lines[1])])
    c.cfg()
    return train(c)


@case("nan_in_val_data", "data:val.csv", "flipper_length_mm")
def _(c):
    bad = lines_with(2, "inf")
    c.edit_csv("val", lambda lines: [*lines, bad(lines[1])])
    c.cfg()
    return train(c)


@case("cardinalities_missing", "data:none.json", None)
def _(c):
    c.cfg(data__cardinalities_path=str(c.data / "none.json"))
    return train(c)


@case("cardinalities_bad_json", "data:cardinalities.json", None)
def _(c):
    (c.data / "cardinalities.json").write_text("{not json")
    c.cfg()
    return train(c)


@case("cardinalities_lack_column", "data:cardinalities.json", "sex")
def _(c):
    card = json.loads((c.data / "cardinalities.json").read_text())
    del card["sex"]
    (c.data / "cardinalities.json").write_text(json.dumps(card))
    c.cfg()
    return train(c)


@case("cardinalities_bad_indices", "data:cardinalities.json", "island")
def _(c):
    card = json.loads((c.data / "cardinalities.json").read_text())
    card["island"] = {"Biscoe": 0, "Dream": 5, "Torgersen": 2}
    (c.data / "cardinalities.json").write_text(json.dumps(card))
    c.cfg()
    return train(c)


# -- the output folder -------------------------------------------------------------------
@case("folder_holds_other_files", "out:debug", "experiment.name", pre_existing=True)
def _(c):
    (c.out / "debug").mkdir(parents=True)
    (c.out / "debug" / "notes.txt").write_text("mine")
    c.cfg()
    return train(c)


def lines_with(column: int, value: str):
    def edit(line: str) -> str:
        cells = line.split(",")
        cells[column] = value
        return ",".join(cells)

    return edit


def expected_file(ctx: Ctx, file: str) -> str:
    if file == "cfg":
        return str(ctx.config)
    if file == "set":
        return "--set"
    kind, _, rel = file.partition(":")
    return str((ctx.data if kind == "data" else ctx.out) / rel)


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


@pytest.fixture
def ctx(tmp_path, penguins_dir) -> Ctx:
    data = tmp_path / "data"
    shutil.copytree(penguins_dir, data)
    return Ctx(tmp_path, data)


def test_corpus_is_big_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, ctx, capsys):
    build, file, key, pre_existing = CASES[name]
    argv = build(ctx)
    before = snapshot(ctx.out)
    rc, out, err = run_cli(argv, capsys)
    assert rc == 2, err
    assert out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    prefix = f"error: {expected_file(ctx, file)}: " + (f"{key}: " if key else "")
    assert lines[0].startswith(prefix), f"{lines[0]!r} should start with {prefix!r}"
    assert len(lines[0]) > len(prefix) + 5  # says what is wrong
    if pre_existing:
        assert snapshot(ctx.out) == before
    else:
        assert not ctx.out.exists()
    assert not list(ctx.tmp.rglob("*.tmp"))


@pytest.mark.parametrize("name", ["yaml_syntax_error", "unknown_category", "set_unknown_key"])
def test_bad_input_end_to_end(name, ctx):
    """A few through a real process: the exit code and stderr as a shell sees them."""
    build, file, key, _ = CASES[name]
    proc = alchemi(build(ctx), ctx.tmp)
    assert proc.returncode == 2 and proc.stdout == ""
    prefix = f"error: {expected_file(ctx, file)}: " + (f"{key}: " if key else "")
    assert proc.stderr.startswith(prefix) and proc.stderr.count("\n") == 1
    assert not ctx.out.exists()
