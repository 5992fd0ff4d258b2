"""Cost of a sweep of 4 SAE trials on one VAE (the sweep flow) against doing it by hand
(one VAE training, one extraction, 4 SAE trainings through alchemi_core.api), same process.

    OMP_NUM_THREADS=1 python bench/sweep_cost.py

Diamonds data, shortened runs (VAE 2 epochs, SAE 3 epochs) so the bench takes ~2 minutes.
The Prefect API is started before timing (a real run pays ~10 s once for the ephemeral server).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (one thread, telemetry off)
import yaml

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(common.ROOT))

from alchemi_core import api  # noqa: E402
from alchemi_core.config import pipeline as pl  # noqa: E402
from alchemi_core.config import steps  # noqa: E402
from alchemi_core.config import steps as step_cfg  # noqa: E402
from alchemi_core.config import trials as tr  # noqa: E402
from alchemi_core.config.schema import TrainingConfig  # noqa: E402
from alchemi_core.config.sweep import SweepConfig  # noqa: E402

GRID = {
    "sae.model.params.hidden_dim": [16, 32],
    "sae.train.optimizer_config.learning_rate": [0.001, 0.003],
}


def write_pipeline(tmp: Path, data: Path, out: Path) -> Path:
    vae = yaml.safe_load((common.ROOT / "configs/vae/diamonds.yaml").read_text())
    for split in ("train", "val"):
        vae[split]["data_path"] = str(data / f"{split}.csv")
    vae["data"]["cardinalities_path"] = str(data / "cardinalities.json")
    vae["experiment"]["output_dir"] = str(out / "vae")
    vae["train"]["epochs"] = 2
    vae.pop("mlflow", None)
    spec = yaml.safe_load((common.ROOT / "configs/pipelines/diamonds.yaml").read_text())
    spec["vae"] = vae
    spec["sae"]["experiment"]["output_dir"] = str(out / "sae")
    spec["sae"]["train"]["epochs"] = 3
    spec["sae"].pop("mlflow", None)
    spec["extract"] = {"batch_size": 4096}
    spec.pop("predict")
    path = tmp / f"pipeline-{out.name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def by_hand(pipe_path: Path) -> None:
    pipe = pl.load_pipeline(pipe_path)
    vae = api.train(pipe.vae)
    cfg = steps.extract_config(pipe.vae, pipe.spec.extract)
    cfg["checkpoint"] = {"path": vae.best_checkpoint, "load_strategy": "best"}
    splits = api.extract(cfg)
    for params in tr.trial_points(SweepConfig(pipeline="-", output_dir="-", grid=GRID)):
        trial = pl.load_pipeline(pipe_path, params)
        trial.sae["experiment"]["name"] += "-" + tr.params_id(params)
        api.train(TrainingConfig.model_validate(step_cfg.fill_sae(trial.sae, splits)))


def main() -> None:
    from prefect import flow

    from flows.sweep import sweep_flow

    data = common.diamonds_dir()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["PREFECT_HOME"] = str(tmp / "prefect")
        flow(lambda: None, name="warm-up")()  # start the ephemeral API outside the timing
        hand = write_pipeline(tmp, data, tmp / "hand")
        t0 = time.perf_counter()
        by_hand(hand)
        t_hand = time.perf_counter() - t0

        sweep = tmp / "sweep.yaml"
        pipe = write_pipeline(tmp, data, tmp / "sweep")
        sweep.write_text(
            yaml.safe_dump(
                {
                    "pipeline": str(pipe),
                    "output_dir": str(tmp / "out"),
                    "grid": GRID,
                    "concurrency": 2,
                }
            )
        )
        t0 = time.perf_counter()
        out = sweep_flow(str(sweep))
        t_sweep = time.perf_counter() - t0
        t0 = time.perf_counter()
        sweep_flow(str(sweep))
        t_cached = time.perf_counter() - t0
    print(
        common.table(
            [
                {"run": "by hand: 1 VAE + extract + 4 SAE (api)", "seconds": f"{t_hand:.1f}"},
                {"run": "sweep_flow, 4 SAE trials, concurrency 2", "seconds": f"{t_sweep:.1f}"},
                {"run": "sweep_flow again (all cached)", "seconds": f"{t_cached:.1f}"},
            ],
            "sweep of 4 SAE trials on one VAE (diamonds, short runs)",
        )
    )
    print(f"VAE trainings in the sweep: {out['vae_stages']}; trials: {out['trials']}")
    print(
        f"ratio sweep / by hand: {t_sweep / t_hand:.2f}x; cached / by hand: "
        f"{t_cached / t_hand:.2f}x"
    )


if __name__ == "__main__":
    main()
