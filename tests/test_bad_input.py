"""A corpus of broken inputs: each gives exit 2, one line `error: <file>: <key or column>: ...`,
no traceback, and leaves no output folder or half-written file behind."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from alchemi_core import api
from alchemi_core.config.schema import TrainingConfig
from tests.conftest import ROOT, debug_config_dict, set_dotted
from tests.reliability_helpers import alchemi, run_cli


@dataclass
class Ctx:
    tmp: Path
    data: Path  # a private copy of the penguins split files
    request: pytest.FixtureRequest  # trained runs on demand (only inference cases train)

    @property
    def vae(self) -> Path:
        return self.request.getfixturevalue("vae_run")

    @property
    def sae(self) -> Path:
        return self.request.getfixturevalue("sae_run")

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

    def infer(self, kind: str, ckpt: Path | None = None, **changes) -> Path:
        """A shipped extract/predict config on the private data, writing under out/, reading
        the session's debug VAE checkpoints (or `ckpt`); changes use __ for dots."""
        rel = (
            "extract/penguins_debug.yaml"
            if kind == "extract"
            else "predict/penguins_debug_vae.yaml"
        )
        data = yaml.safe_load((ROOT / "configs" / rel).read_text())
        data["data"]["cardinalities_path"] = str(self.data / "cardinalities.json")
        for split in ("train", "val", "test"):
            if split in data:
                data[split]["data_path"] = str(self.data / f"{split}.csv")
                data[split]["output"] = str(self.out / Path(data[split]["output"]).name)
        data["checkpoint"]["path"] = str(ckpt or self.vae / "checkpoints")
        set_dotted(data, changes)
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config

    def sae_cfg(self, train_npy: Path, **changes) -> Path:
        """The shipped debug SAE config on the session's VAE embeddings, writing under out/."""
        data = yaml.safe_load((ROOT / "configs/sae/penguins_debug.yaml").read_text())
        emb = self.request.getfixturevalue("vae_embeddings")
        data["experiment"]["output_dir"] = str(self.out)
        data["train"]["data_path"], data["val"]["data_path"] = str(train_npy), emb["val"]
        set_dotted(data, changes)
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config

    def npy(self, name: str, shape: tuple[int, ...]) -> Path:
        path = self.data / name
        np.save(path, np.random.default_rng(0).normal(size=shape).astype(np.float32))
        return path

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


# -- types, enums, impossible values ----------------------------------------------------


# -- names the registries and torch do not know ----------------------------------------


# Config-only cases: (name, key, changes to the debug config).
CONFIG_CASES = [
    ("unknown_top_level_key", "trian", dict(trian={"epochs": 1})),
    ("unknown_nested_key", "train.epoch", dict(train__epoch=3)),
    ("missing_key", "experiment.name", dict(drop=("experiment__name",))),
    ("missing_section", "checkpoint", dict(drop=("checkpoint",))),
    ("epochs_not_a_number", "train.epochs", dict(train__epochs="three")),
    (
        "batch_size_a_list",
        "train.loader_params.batch_size",
        dict(train__loader_params__batch_size=[32]),
    ),
    (
        "shuffle_not_bool",
        "train.loader_params.shuffle",
        dict(train__loader_params__shuffle="maybe"),
    ),
    ("section_is_a_string", "model", dict(model="VAE")),
    ("bad_enum_checkpoint_mode", "checkpoint.mode", dict(checkpoint__mode="minimum")),
    (
        "bad_enum_save_strategy",
        "checkpoint.save_strategy",
        dict(checkpoint__save_strategy="sometimes"),
    ),
    ("bad_enum_dtype", "global.dtype", dict(global__dtype="float8")),
    ("bad_device", "global.device", dict(global__device="tpu")),
    (
        "negative_batch_size",
        "train.loader_params.batch_size",
        dict(train__loader_params__batch_size=-32),
    ),
    ("zero_epochs", "train.epochs", dict(train__epochs=0)),
    (
        "patience_zero",
        "val.early_stopping.patience",
        dict(val__early_stopping={"patience": 0, "metric": "val_loss", "direction": "min"}),
    ),
    (
        "negative_learning_rate",
        "train.optimizer_config.learning_rate",
        dict(train__optimizer_config__learning_rate=-0.1),
    ),
    (
        "negative_workers",
        "train.loader_params.num_workers",
        dict(train__loader_params__num_workers=-1),
    ),
    ("val_frequency_above_epochs", "val.frequency", dict(val__frequency=10)),
    ("fp16_autocast_on_cpu", "global.amp_dtype", dict(global__amp_dtype="fp16")),
    (
        "no_columns",
        "data.columns",
        dict(data__columns={"numerical": [], "categorical": [], "embeddings": []}),
    ),
    (
        "column_listed_twice",
        "data.columns",
        dict(data__columns={"numerical": ["bill_length_mm", "bill_length_mm"]}),
    ),
    (
        "unknown_model_class",
        "model.class",
        dict(model={"class": "VEA", "params": {"latent_dim": 4}}),
    ),
    (
        "unknown_model_param",
        "model.params.latent_dimm",
        dict(model={"class": "VAE", "params": {"latent_dimm": 4}}),
    ),
    ("unknown_loss_class", "train.loss.class", dict(train__loss={"class": "VAELos"})),
    (
        "impossible_loss_param",
        "train.loss.params.beta",
        dict(train__loss={"class": "VAELoss", "params": {"beta": -1.0}}),
    ),
    ("unknown_loader_class", "train.loader_class", dict(train__loader_class="CsvLoader")),
    (
        "unknown_optimizer",
        "train.optimizer_config.optimizer",
        dict(train__optimizer_config={"optimizer": "Adamm", "learning_rate": 0.01}),
    ),
    (
        "unknown_scheduler",
        "train.scheduler.name",
        dict(train__scheduler={"name": "StepLRR", "step_size": 1}),
    ),
    ("metric_not_logged", "checkpoint.metric", dict(checkpoint__metric="val_accuracy")),
    ("val_metric_without_val", "checkpoint.metric", dict(drop=("val",))),
    ("import_missing_module", "imports[0]", dict(imports=["no_such_module_anywhere"])),
    ("experiment_name_dotdot", "experiment.name", dict(experiment__name="../escape")),
    ("experiment_name_slash", "experiment.name", dict(experiment__name="a/b")),
    (
        "bad_enum_early_stopping_direction",
        "val.early_stopping.direction",
        dict(val__early_stopping={"patience": 2, "metric": "val_loss", "direction": "down"}),
    ),
    (
        "unknown_optimizer_kwarg",
        "train.optimizer_config.weight_decy",
        dict(
            train__optimizer_config={"optimizer": "Adam", "learning_rate": 0.01, "weight_decy": 0.1}
        ),
    ),
]
for _name, _key, _changes in CONFIG_CASES:
    case(_name, "cfg", _key)(lambda c, ch=_changes: ["train", "--config", c.cfg(**ch)])


# --set cases: (name, file, key, the --set argument).
SET_CASES = [
    ("set_unknown_key", "set", "train.nope", "train.nope=1"),
    ("set_unknown_section", "set", "trainn", "trainn.epochs=1"),
    ("set_without_equals", "set", None, "train.epochs"),
    ("set_wrong_type", "cfg", "train.epochs", "train.epochs=many"),
    ("set_experiment_name_absolute", "cfg", "experiment.name", "experiment.name=/etc"),
]
for _name, _file, _key, _arg in SET_CASES:
    case(_name, _file, _key)(lambda c, arg=_arg: ["train", "--config", c.cfg(), "--set", arg])


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


@case("train_file_wrong_suffix", "cfg", "train.loader_class")
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


# A bad cell appended as a new row: (name, split, column index, column, value).
BAD_CELLS = [
    ("nan_in_numerical", "train", 1, "bill_depth_mm", "nan"),
    ("text_in_numerical", "train", 1, "bill_depth_mm", "deep"),
    ("nan_in_val_data", "val", 2, "flipper_length_mm", "inf"),
]


def append_bad_row(split: str, index: int, value: str):
    def build(c: Ctx) -> list:
        edit = lines_with(index, value)
        c.edit_csv(split, lambda lines: [*lines, edit(lines[1])])
        c.cfg()
        return train(c)

    return build


for _name, _split, _index, _column, _value in BAD_CELLS:
    case(_name, f"data:{_split}.csv", _column)(append_bad_row(_split, _index, _value))


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


# -- inference: checkpoints, embeddings and their configs --------------------------------
def extract(c: Ctx, **changes) -> list:
    return ["extract", "--config", c.infer("extract", **changes)]


def predict(c: Ctx, ckpt: Path | None = None, **changes) -> list:
    return ["predict", "--config", c.infer("predict", ckpt, **changes)]


@case("extract_model_class_mismatch", "cfg", "model.class")
def _(c):
    return extract(c, model__class="SAE")


@case("predict_vae_class_on_sae_checkpoint", "cfg", "model.class")
def _(c):
    return predict(c, c.sae / "checkpoints")


@case("extract_truncated_checkpoint", "tmp:ckpt/last_model.pt", None)
def _(c):
    good = (c.vae / "checkpoints" / "last_model.pt").read_bytes()
    (c.tmp / "ckpt").mkdir()
    (c.tmp / "ckpt" / "last_model.pt").write_bytes(good[: len(good) // 2])
    return extract(c, checkpoint__path=str(c.tmp / "ckpt"))


@case("extract_checkpoint_not_a_checkpoint", "tmp:model.pt", None)
def _(c):
    (c.tmp / "model.pt").write_text("weights? no")
    return extract(c, checkpoint__path=str(c.tmp / "model.pt"))


@case("extract_no_such_epoch", "cfg", "checkpoint.load_strategy")
def _(c):
    return extract(c, checkpoint__load_strategy="epoch_99")


@case("predict_checkpoint_missing", "tmp:runs/nope", None)
def _(c):
    return predict(c, c.tmp / "runs" / "nope")


@case("extract_unknown_key", "cfg", "checkpoint.strategy")
def _(c):
    return extract(c, checkpoint__strategy="last")


@case("extract_training_key", "cfg", "train.epochs")
def _(c):
    return extract(c, train__epochs=3)


@case("predict_output_bad_suffix", "cfg", "test.output")
def _(c):
    return predict(c, test__output=str(c.out / "predictions.csv"))


@case("extract_column_differs_from_checkpoint", "cfg", "data.columns.numerical")
def _(c):
    return extract(c, data__columns__numerical=["bill_length_mm", "bill_depth_mm"])


@case("predict_category_column_differs", "cfg", "data.columns.categorical")
def _(c):
    return predict(c, data__columns__categorical=["species", "island"])


@case("extract_val_split_lacks_column", "data:val.csv", "sex")
def _(c):  # train and test are fine: still nothing written
    c.edit_csv("val", lambda lines: [ln.rsplit(",", 1)[0] for ln in lines])
    return extract(c)


@case("predict_unknown_metrics_loss", "cfg", "test.metrics.loss.class")
def _(c):
    return predict(c, test__metrics__loss={"class": "VAELos"})


@case("sae_train_npy_1d", "data:emb_1d.npy", None)
def _(c):
    c.sae_cfg(c.npy("emb_1d.npy", (200,)))
    return train(c)


@case("sae_train_width_vs_input_dim", "cfg", "model.params.input_dim")
def _(c):
    c.sae_cfg(c.request.getfixturevalue("vae_embeddings")["train"], model__params__input_dim=5)
    return train(c)


@case("sae_train_val_width_differs", "cfg", "val.data_path")
def _(c):
    c.sae_cfg(c.request.getfixturevalue("vae_embeddings")["train"])
    cfg = yaml.safe_load(c.config.read_text())
    cfg["val"]["data_path"] = str(c.npy("val_5.npy", (40, 5)))
    c.config.write_text(yaml.safe_dump(cfg))
    return train(c)


def sae_predict(c: Ctx, npy: Path) -> list:
    """Predict with the session's SAE on `npy`."""
    emb = {"numerical": [], "categorical": [], "embeddings": ["vae_embeddings"]}
    section = {"data_path": str(npy), "loader_class": "EmbeddingDataLoader"}
    return predict(
        c,
        c.sae / "checkpoints",
        model__class="SAE",
        data={"columns": emb, "cardinalities_path": None},
        test={
            **section,
            "loader_params": {"batch_size": 16, "shuffle": False},
            "output": str(c.out / "p.npy"),
        },
    )


@case("predict_npy_1d", "data:emb_1d.npy", None)
def _(c):
    return sae_predict(c, c.npy("emb_1d.npy", (34,)))


@case("predict_npy_width_vs_checkpoint", "cfg", "test.data_path")
def _(c):
    return sae_predict(c, c.npy("emb_5.npy", (34, 5)))


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
    return str({"data": ctx.data, "out": ctx.out, "tmp": ctx.tmp}[kind] / rel)


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


@pytest.fixture(scope="session")
def vae_embeddings(vae_run, penguins_dir, tmp_path_factory) -> dict[str, str]:
    """The debug VAE's embeddings of train/val/test, extracted once: split -> .npy path."""
    out = tmp_path_factory.mktemp("vae_embeddings")
    cfg = yaml.safe_load((ROOT / "configs/extract/penguins_debug.yaml").read_text())
    cfg["checkpoint"]["path"] = str(vae_run / "checkpoints")
    cfg["data"]["cardinalities_path"] = str(penguins_dir / "cardinalities.json")
    for split in ("train", "val", "test"):
        cfg[split]["data_path"] = str(penguins_dir / f"{split}.csv")
        cfg[split]["output"] = str(out / f"{split}.npy")
    return {k: v["path"] for k, v in api.extract(cfg).items()}


@pytest.fixture(scope="session")
def sae_run(vae_embeddings, tmp_path_factory) -> Path:
    """The debug SAE trained once on the debug VAE's embeddings."""
    cfg = yaml.safe_load((ROOT / "configs/sae/penguins_debug.yaml").read_text())
    cfg["experiment"]["output_dir"] = str(tmp_path_factory.mktemp("sae_run"))
    cfg["train"]["data_path"], cfg["val"]["data_path"] = (
        vae_embeddings["train"],
        vae_embeddings["val"],
    )
    return Path(api.train(api.as_config(cfg, TrainingConfig)[0]).run_dir)


@pytest.fixture
def ctx(tmp_path, penguins_dir, request) -> Ctx:
    data = tmp_path / "data"
    shutil.copytree(penguins_dir, data)
    return Ctx(tmp_path, data, request)


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
