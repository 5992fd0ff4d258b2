"""Sweep cost: 4 SAE trials on one VAE through flows/sweep.py against the same work by hand.

By hand: 1 VAE training, 1 extraction and 4 SAE trainings through alchemi_core.api, one after
another (what a user scripts). Sweep: sweep_flow over the same grid, trials in sequence
(concurrency 1, target <= 1.1x) and concurrently (concurrency 2, target < 1.0x). Diamonds,
shortened runs, MLflow off on both sides. Prefect's ephemeral API is started before the clock
(its start is a fixed cost, reported under orchestration).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml
from common import diamonds_dir, row
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

    from flows.sweep import sweep_flow

    vae_epochs, sae_epochs = (1, 2) if quick else (3, 5)
    data = diamonds_dir()
    flow(lambda: None, name="warm-up")()  # the ephemeral API starts here, before the clock
    times = {}
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-sweep-") as tmp:
        tmp = Path(tmp)
        for side in ("hand", "sweep-1", "sweep-2"):
            pipe = write_pipeline(tmp, data, tmp / side, vae_epochs, sae_epochs, mlflow=False)
            pipe_spec = yaml.safe_load(pipe.read_text())
            pipe_spec.pop("predict", None)
            pipe.write_text(yaml.safe_dump(pipe_spec))
            t0 = time.perf_counter()
            if side == "hand":
                by_hand(pipe)
            else:
                sweep = tmp / f"{side}.yaml"
                spec = {"pipeline": str(pipe), "output_dir": str(tmp / side / "out"),
                        "grid": GRID, "concurrency": int(side[-1])}  # fmt: skip
                sweep.write_text(yaml.safe_dump(spec))
                sweep_flow(str(sweep))
            times[side] = time.perf_counter() - t0
    note = f"VAE {vae_epochs} / SAE {sae_epochs} epochs; one run each (shared machine: noisy)"
    hand = times["hand"]
    return [
        row("sweep 4 SAE trials, sequential", hand, times["sweep-1"], "s", "<= 1.1", note),
        row("sweep 4 SAE trials, concurrency 2", hand, times["sweep-2"], "s", "<= 0.99", note),
    ]
