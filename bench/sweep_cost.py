"""Sweep cost: 4 SAE trials on one VAE through flows/sweep.py against the same work by hand.

By hand: 1 VAE training, 1 extraction and 4 SAE trainings through alchemi_core.api, one after
another (what a user scripts). Sweep: sweep_flow over the same grid, trials in sequence
(concurrency 1, target <= 1.1x) and concurrently (concurrency 2, target < 1.0x). Diamonds,
shortened runs, MLflow off on both sides, the flow with the command line's Prefect settings
(flows/cli.local_settings), sides interleaved over rounds, medians. Prefect's ephemeral API is started before the clock
(its start is a fixed cost, reported under orchestration).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml
from common import diamonds_dir, median, row
from pipelines import prefect_home, write_pipeline

from alchemi_core import api
from alchemi_core.config import pipeline as pl
from alchemi_core.config import steps, trials
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.config.sweep import SweepConfig

GRID = {
    "sae.model.params.hidden_dim": [16, 32],
    "sae.train.optimizer_config.learning_rate": [0.001, 0.003],
}


def by_hand(pipe_path: Path) -> None:
    pipe = pl.load_pipeline(pipe_path)
    vae = api.train(pipe.vae)
    cfg = steps.extract_config(pipe.vae, pipe.spec.extract)
    cfg["checkpoint"] = {"path": vae.best_checkpoint, "load_strategy": "best"}
    splits = api.extract(cfg)
    for params in trials.trial_points(SweepConfig(pipeline="-", output_dir="-", grid=GRID)):
        trial = pl.load_pipeline(pipe_path, params)
        trial.sae["experiment"]["name"] += "-" + trials.params_id(params)
        api.train(TrainingConfig.model_validate(steps.fill_sae(trial.sae, splits)))


def run(quick: bool = False) -> list[dict]:
    prefect_home()
    from prefect import flow
    from prefect.settings import temporary_settings

    from flows.cli import local_settings

    vae_epochs, sae_epochs = (1, 2) if quick else (3, 5)
    rounds = 1 if quick else 3
    data = diamonds_dir()
    times: dict[str, list[float]] = {"hand": [], "sweep-1": [], "sweep-2": []}
    with (
        temporary_settings(local_settings()),  # as `python flows/sweep.py` runs it
        tempfile.TemporaryDirectory(prefix="alchemi-bench-sweep-") as tmp,
    ):
        flow(lambda: None, name="warm-up")()  # the ephemeral API starts here, before the clock
        tmp = Path(tmp)
        for r in range(rounds):  # the three sides interleaved, each in a fresh folder
            for side in times:
                times[side].append(
                    one_side(tmp / f"{side}-{r}", side, data, vae_epochs, sae_epochs)
                )
    note = f"VAE {vae_epochs} / SAE {sae_epochs} epochs; median of {rounds} interleaved rounds"
    hand = median(times["hand"])
    note += " (by hand " + ", ".join(f"{t:.1f}" for t in times["hand"]) + " s)"
    return [
        row("sweep 4 SAE trials, sequential", hand, median(times["sweep-1"]), "s", "<= 1.1", note),
        row("sweep 4 SAE trials, concurrency 2", hand, median(times["sweep-2"]), "s", "<= 0.99",
            note),
    ]  # fmt: skip


def one_side(folder: Path, side: str, data: Path, vae_epochs: int, sae_epochs: int) -> float:
    """Seconds for 1 VAE + extraction + 4 SAE trials: by hand, or a sweep flow at concurrency
    1 or 2 (side "sweep-N")."""
    from flows.sweep import sweep_flow

    folder.mkdir(parents=True)
    pipe = write_pipeline(folder, data, folder, vae_epochs, sae_epochs, mlflow=False)
    pipe_spec = yaml.safe_load(pipe.read_text())
    pipe_spec.pop("predict", None)
    pipe.write_text(yaml.safe_dump(pipe_spec))
    t0 = time.perf_counter()
    if side == "hand":
        by_hand(pipe)
    else:
        sweep = folder / "sweep.yaml"
        spec = {"pipeline": str(pipe), "output_dir": str(folder / "out"),
                "grid": GRID, "concurrency": int(side[-1])}  # fmt: skip
        sweep.write_text(yaml.safe_dump(spec))
        sweep_flow(str(sweep))
    return time.perf_counter() - t0
