"""Every command that reads a config or writes a file, runnable on a private workspace, and
the one assertion every boundary test makes: exit 2, one line `error: <file>: <key>: ...` on
stderr, no traceback, every input byte-identical afterwards and no output (or temp file) left.

A Command builds its valid config in `ws.root` (dotted `changes` applied), places its outputs
at `where` (a folder: experiment.output_dir, --out, --plots, or the folder of its output
files) and says which key names that place.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import ROOT, debug_config_dict, set_dotted


@dataclass
class Workspace:
    root: Path
    data: Path  # a private copy of the penguins splits
    vae_run: Path  # the session's debug VAE run (read only)
    align_run: Path | None = None  # the session's alignment run (read only), on demand
    sae_run: Path | None = None  # the session's debug SAE run and the VAE embeddings of
    embeddings: Path | None = None  # train.csv it reads (read only), on demand
    watch: list[Path] = field(default_factory=list)  # more inputs to keep byte-identical

    @property
    def config(self) -> Path:
        return self.root / "cfg.yaml"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def write(self, data: dict) -> Path:
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config


@dataclass
class Command:
    name: str
    argv: Callable[[Workspace, Path, dict], list]  # (ws, where, changes) -> argv
    out_key: str  # the config key (or flag) naming where outputs go
    config: bool = True  # reads a config file (--config)
    flow: str | None = None  # a flow script's module (flows.<name>), else `alchemi`
    needs_align: bool = False
    needs_sae: bool = False

    @property
    def file(self) -> str | None:
        return None if self.config else "command line"


def _changes(data: dict, changes: dict) -> dict:
    return set_dotted(data, {k.replace(".", "__"): v for k, v in changes.items()})


def train_cfg(ws: Workspace, where: Path, changes: dict) -> Path:
    return ws.write(_changes(debug_config_dict(ws.data, where), changes))


def inference_cfg(kind: str, ws: Workspace, where: Path, changes: dict) -> Path:
    rel = "extract/penguins_debug.yaml" if kind == "extract" else "predict/penguins_debug_vae.yaml"
    data = yaml.safe_load((ROOT / "configs" / rel).read_text())
    data["data"]["cardinalities_path"] = str(ws.data / "cardinalities.json")
    for split in ("train", "val", "test"):
        if split in data:
            data[split]["data_path"] = str(ws.data / f"{split}.csv")
            data[split]["output"] = str(where / Path(data[split]["output"]).name)
    data["checkpoint"]["path"] = str(ws.vae_run / "checkpoints")
    return ws.write(_changes(data, changes))


def align_cfg(ws: Workspace, where: Path, changes: dict) -> Path:
    from tests.spectral.helpers import tiny_config

    path = tiny_config(ws.root / "spectra", where, **{"trainer.epochs": 1})
    data = yaml.safe_load(path.read_text())
    path.unlink()
    return ws.write(_changes(data, changes))


def readings(ws: Workspace) -> tuple[Path, Path]:
    sensor = ws.root / "other.csv"
    sensor.write_text("band,centre_nm,fwhm_nm\nx1,450,10\nx2,700,25\nx3,1000,80\n")
    table = ws.root / "readings.csv"
    table.write_text("id,x1,x2,x3\na,0.1,0.2,0.3\nb,0.2,0.25,0.5\n")
    return sensor, table


def align_extract_cfg(ws: Workspace, where: Path, changes: dict) -> Path:
    sensor, table = readings(ws)
    data = {
        "run": str(ws.align_run),
        "tower": "sensor",
        "input_path": str(table),
        "sensor_path": str(sensor),
        "output": str(where / "emb.npy"),
    }
    return ws.write(_changes(data, changes))


def mae_cfg(ws: Workspace, where: Path, changes: dict) -> Path:
    data = yaml.safe_load((ROOT / "configs/mae/synthetic_debug.yaml").read_text())
    data["experiment"]["output_dir"] = str(where)
    data["train"].update(num_samples=64, steps=2, mask_ratios=[0.5], bench_repeats=0)
    return ws.write(_changes(data, changes))


def align_eval(ws: Workspace, where: Path, changes: dict) -> list:
    sensor, _ = readings(ws)
    lab = ws.root / "spectra" / "lab.csv"
    if not lab.exists():
        from tests.spectral.helpers import write_dataset

        lab = write_dataset(ws.root / "spectra")["lab"]
    run = ["--run", ws.align_run, "--lab", lab, "--sensor", sensor]
    return ["align", "eval", *run, "--plots", where]


def shipped(rel: str):
    """A shipped config copied as it is (for checks that fail before its paths matter)."""
    return lambda ws, where, ch: ws.write(
        _changes(yaml.safe_load((ROOT / "configs" / rel).read_text()), ch)
    )


def _config(cmd: list[str], build) -> Callable:
    return lambda ws, where, ch: [*cmd, "--config", build(ws, where, ch)]


COMMANDS = {
    c.name: c
    for c in [
        Command("train", _config(["train"], train_cfg), "experiment.output_dir"),
        Command(
            "extract",
            _config(["extract"], lambda *a: inference_cfg("extract", *a)),
            "train.output",
        ),
        Command(
            "predict",
            _config(["predict"], lambda *a: inference_cfg("predict", *a)),
            "test.output",
        ),
        Command("align train", _config(["align", "train"], align_cfg), "experiment.output_dir"),
        Command(
            "align extract",
            _config(["extract"], align_extract_cfg),
            "output",
            needs_align=True,
        ),
        Command("align eval", align_eval, "--plots", config=False, needs_align=True),
        Command(
            "sae report",
            lambda ws, where, ch: [
                "sae",
                "report",
                "--run",
                ws.sae_run,
                "--embeddings",
                ws.embeddings,
                "--table",
                ws.data / "train.csv",
                "--out",
                where,
            ],  # fmt: skip
            "--out",
            config=False,
            needs_sae=True,
        ),
        Command("pretrain-mae", _config(["pretrain-mae"], mae_cfg), "experiment.output_dir"),
        Command(
            "prepare-data",
            lambda ws, where, ch: ["prepare-data", "--dataset", "penguins", "--out", where],
            "--out",
            config=False,
        ),
        Command(
            "prepare-spectra",
            lambda ws, where, ch: ["prepare-spectra", "--out", where],
            "--out",
            config=False,
        ),
        Command(
            "config validate", lambda ws, w, ch: ["config", "validate", train_cfg(ws, w, ch)], ""
        ),
        Command("config show", lambda ws, w, ch: ["config", "show", train_cfg(ws, w, ch)], ""),
        Command("flow train", _config([], train_cfg), "", flow="train"),
        Command(
            "flow vae_sae",
            _config([], shipped("pipelines/penguins_debug.yaml")),
            "",
            flow="vae_sae",
        ),
        Command(
            "flow sweep", _config([], shipped("sweeps/penguins_sae_tiny.yaml")), "", flow="sweep"
        ),
        Command("flow alignment", _config([], align_cfg), "", flow="alignment"),
    ]
}


def pick(*names: str) -> list[str]:
    for n in names:
        assert n in COMMANDS, n
    return list(names)


def run(cmd: Command, argv: list, capsys) -> tuple[int, str, str]:
    """The command in this process, quiet (-q: only errors on stderr)."""
    argv = [str(a) for a in argv]
    capsys.readouterr()
    if cmd.flow:
        import importlib

        rc = importlib.import_module(f"flows.{cmd.flow}").main([*argv, "-q"])
    else:
        from alchemi_core import cli

        rc = cli.main(["-q", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(*roots: Path) -> dict[Path, bytes]:
    files: dict[Path, bytes] = {}
    for root in roots:
        if root.is_file():
            files[root] = root.read_bytes()
        elif root.is_dir():
            files.update({p: p.read_bytes() for p in root.rglob("*") if p.is_file()})
    return files


def listing(*roots: Path) -> set[Path]:
    return {p for r in roots if r.exists() for p in r.rglob("*")}


def assert_refused(
    ws: Workspace, before: tuple, rc: int, out: str, err: str, file, key: str | None
) -> str:
    """Exit 2, one line naming `file` (and `key`), no traceback, nothing written or changed."""
    assert rc == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    prefix = f"error: {file}: " + (f"{key}: " if key else "")
    assert lines[0].startswith(prefix), f"{lines[0]!r} should start with {prefix!r}"
    assert len(lines[0]) > len(prefix) + 5, lines[0]  # says what is wrong
    files, names = before
    roots = [ws.root, *ws.watch]
    assert snapshot(*roots) == files, "an input changed"
    assert listing(*roots) == names, f"left behind: {sorted(map(str, listing(*roots) - names))}"
    return lines[0]


def before(ws: Workspace) -> tuple:
    roots = [ws.root, *ws.watch]
    return snapshot(*roots), listing(*roots)


def copy_data(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
