"""A folder where the shipped debug configs run, and one runner for every command and flow.

`Workspace.run(command, kind)` runs one of COMMANDS on the workspace's config of `kind`:
`alchemi ...` or a flow script's `main`, in this process; `Workspace.script` runs a flow script
as its own process (`python flows/X.py --config ...`), as a user would. Each failure-class test parametrizes over the commands.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import ROOT, set_dotted
from tests.reliability_helpers import run_cli, subprocess_env
from tests.spectral.helpers import tiny_config

CONFIGS = {
    "training": "configs/vae/penguins_debug.yaml",
    "pipeline": "configs/pipelines/penguins_debug.yaml",
    "sweep": "configs/sweeps/penguins_sae_tiny.yaml",
    "alignment": "data/spectra/align.yaml",
    "mae": "configs/mae/lab.yaml",
}

# command -> (config kind it takes, argv before the config path, or a flow script)
COMMANDS = {
    "train": ("training", ["train", "--config"]),
    "validate": (None, ["config", "validate"]),
    "align train": ("alignment", ["align", "train", "--config"]),
    "pretrain-mae": ("mae", ["pretrain-mae", "--config"]),
    "flows/train.py": ("training", None),
    "flows/vae_sae.py": ("pipeline", None),
    "flows/sweep.py": ("sweep", None),
    "flows/alignment.py": ("alignment", None),
}


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Workspace:
    root: Path
    capsys: object
    imported: set[str] = field(default_factory=set)  # modules the last `script` imported

    def path(self, kind: str) -> Path:
        return self.root / CONFIGS[kind]

    @property
    def penguins(self) -> Path:
        return self.root / "data" / "penguins"

    @property
    def spectra(self) -> Path:
        return self.root / "data" / "spectra"

    def edit(self, kind: str, **changes) -> Path:
        """Set dotted keys (`a__b=value`) in the config of `kind`, in place."""
        path = self.path(kind)
        data = yaml.safe_load(path.read_text())
        set_dotted(data, changes)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def edit_yaml_text(self, kind: str, old: str, new: str) -> Path:
        """A textual edit (for values yaml.safe_dump cannot write, such as `.inf`)."""
        path = self.path(kind)
        text = path.read_text()
        assert old in text, (old, path)
        path.write_text(text.replace(old, new, 1))
        return path

    def align_eval(self, *extra: str) -> Result:
        """`align eval` of the workspace's lab table and msi sensor (the run need not exist:
        the inputs are read first)."""
        argv = ["align", "eval", "--run", self.root / "no-run", "--lab", self.spectra / "lab.csv"]
        code, out, err = run_cli([*argv, "--sensor", self.spectra / "msi.csv", *extra], self.capsys)
        return Result(code, out, err)

    def align_extract(self, tower: str, input_path: Path) -> Result:
        """`alchemi extract` with an alignment tower (no run needed: the inputs are read first)."""
        cfg = {"run": str(self.root / "no-run"), "tower": tower, "input_path": str(input_path)}
        cfg |= {"sensor_path": str(self.spectra / "msi.csv"), "output": str(self.root / "e.npy")}
        path = self.root / "extract.yaml"
        path.write_text(yaml.safe_dump(cfg))
        code, out, err = run_cli(["extract", "--config", path], self.capsys)
        return Result(code, out, err)

    def run(self, command: str, kind: str | None = None) -> Result:
        """The command in this process: `alchemi ...` (cli.main), or a flow script's `main`
        (its pre-flight runs before it imports Prefect; see `script` for a real process)."""
        default, argv = COMMANDS[command]
        config = self.path(kind or default)
        if argv is not None:
            code, out, err = run_cli([*argv, config], self.capsys)
            return Result(code, out, err)
        self.capsys.readouterr()
        module = command.removesuffix(".py").replace("/", ".")
        code = importlib.import_module(module).main(["--config", str(config)])
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def script(self, command: str, kind: str | None = None) -> Result:
        """A flow script as its own process (`python flows/X.py --config ...`), as a user runs
        it; stderr without the lines of `-X importtime`, which `imported` holds."""
        config = self.path(kind or COMMANDS[command][0])
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", str(ROOT / command), "--config", str(config)],
            cwd=self.root,
            env=subprocess_env({"PREFECT_HOME": str(self.root / ".prefect")}),
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = proc.stderr.splitlines(keepends=True)
        err = "".join(line for line in lines if not line.startswith("import time:"))
        self.imported = {line.rsplit("|", 1)[1].strip() for line in lines if "|" in line}
        return Result(proc.returncode, proc.stdout, err)


def make_workspace(root: Path, penguins: Path, capsys) -> Workspace:
    """The shipped penguins configs (VAE, pipeline, sweep) on a private copy of the data, the
    tiny alignment config on synthetic spectra, and an MAE config on the same lab table."""
    shutil.copytree(penguins, root / "data" / "penguins")
    for folder in ("vae", "pipelines", "sweeps"):
        shutil.copytree(ROOT / "configs" / folder, root / "configs" / folder)
    align = tiny_config(root / "data" / "spectra", root / "experiments" / "phase2")
    assert align == root / CONFIGS["alignment"]
    mae = yaml.safe_load((ROOT / "configs/mae/synthetic_debug.yaml").read_text())
    mae["train"].update(data="data/spectra/lab.csv", num_tokens=8, token_dim=4, bench_repeats=0)
    (root / "configs" / "mae").mkdir(parents=True)
    (root / CONFIGS["mae"]).write_text(yaml.safe_dump(mae, sort_keys=False))
    return Workspace(root, capsys)


def rewrite_header(path: Path, fn) -> Path:
    """Replace a CSV's header line by fn(list of names) (the rows are kept as they are)."""
    lines = path.read_text().splitlines()
    lines[0] = ",".join(fn(lines[0].split(",")))
    path.write_text("\n".join(lines) + "\n")
    return path


def set_cell(path: Path, column: str, row: int, value) -> Path:
    """One cell of a CSV set to `value` (written as text: `inf`, `high`, empty for NaN)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[row, column] = str(value)
    df.to_csv(path, index=False)
    return path


def assert_one_line(res: Result, *parts: str) -> str:
    """Exit 2, no traceback, one stderr line `error: ...` holding every one of `parts`."""
    assert res.code == 2, (res.code, res.err[-3000:])
    assert "Traceback" not in res.err, res.err[-3000:]
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err[-3000:]
    assert lines[0].startswith("error: "), lines[0]
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]
