"""`alchemi --help` and every subcommand's help list every option; what help costs is reported
as a ratio to a bare `python -c pass` (printed and recorded, not asserted: shared machine)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import pytest

from alchemi_core.cli.main import build_parser
from tests.conftest import ROOT

FLOWS = ["flows/vae_sae.py", "flows/sweep.py", "flows/train.py"]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings]


def run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "alchemi_core.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_every_subcommand_and_option_is_in_the_help():
    parser = build_parser()
    top = run("--help")
    assert top.returncode == 0, top.stderr
    subs = subcommands(parser)
    assert {"train", "extract", "predict", "prepare-data"} <= set(subs)
    for name in subs:
        assert name in top.stdout
    assert all(o in top.stdout for o in options(parser))
    for name, sub in subs.items():
        shown = run(name, "--help")
        assert shown.returncode == 0, shown.stderr
        missing = [o for o in options(sub) if o not in shown.stdout]
        assert not missing, f"alchemi {name} --help lacks {missing}"


@pytest.mark.slow  # each script imports Prefect before parsing its arguments
@pytest.mark.parametrize("script", FLOWS)
def test_flow_scripts_list_their_options(script):
    shown = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    for option in ("--config", "--refresh", "--json", "--verbose", "--quiet"):
        assert option in shown.stdout, f"{script} --help lacks {option}"


def timed(cmd: list[str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=120, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_help_cost_as_a_ratio_to_a_bare_interpreter(record_property, capsys):
    bare = timed([sys.executable, "-c", "pass"])
    help_ = timed([sys.executable, "-m", "alchemi_core.cli", "--help"])
    ratio = help_ / bare
    record_property("help_ratio_to_python_c_pass", round(ratio, 2))
    with capsys.disabled():
        print(f"\nalchemi --help: {help_:.3f}s, python -c pass: {bare:.3f}s, ratio {ratio:.1f}x")
    # What makes help slow is importing the heavy libraries: it must not.
    shown = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "alchemi_core.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in shown.stderr.splitlines()}
    heavy = imported & {"torch", "prefect", "mlflow", "pandas", "matplotlib"}
    assert not heavy, f"alchemi --help imports {sorted(heavy)}"
