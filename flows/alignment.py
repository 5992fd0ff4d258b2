"""Alignment: train the lab<->sensor model, then evaluate it on every training and held-out
sensor of its config (sensor -> lab retrieval over the config's lab library).

    python flows/alignment.py --config configs/phase2/alignment.yaml [--refresh]

Every step is a cached task (tasks/caching.py): an unchanged re-run shows every step Cached.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make tasks/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow

from alchemi_core.config.alignment import load_alignment_config
from alchemi_core.training import checkpoints
from tasks.align import align_eval, align_train


@flow(name="alignment")
def alignment_flow(
    config: str, refresh: bool = False, noise: float | None = None, seed: int = 0
) -> dict[str, Any]:
    """Train per `config` (an alignment YAML), then evaluate each sensor at `noise`
    (default: the config's data.noise)."""
    cfg = load_alignment_config(config)
    dumped = cfg.model_dump(mode="json", by_alias=True)
    state = align_train.with_options(refresh_cache=refresh or None)(
        dumped, source=config, fresh=refresh, return_state=True
    )
    trained = state.result()
    states = {"train": state.name}
    run_dir = trained["run_dir"]
    ckpt = str(checkpoints.resolve(run_dir, "best"))
    futures = {
        Path(p).stem: align_eval.with_options(refresh_cache=refresh or None).submit(
            run_dir, ckpt, cfg.data.lab_path, p, noise, seed
        )
        for p in [*cfg.data.sensor_paths, *cfg.data.eval_sensor_paths]
    }
    evals = {name: f.result() for name, f in futures.items()}
    states.update({f"eval.{name}": f.state.name for name, f in futures.items()})
    held = {Path(p).stem for p in cfg.data.eval_sensor_paths}
    return {
        "states": states,
        "train": {k: v for k, v in trained.items() if k != "outputs"},
        "eval": {
            k: {m: v[m] for m in ("top1", "recall_at_5", "mean_rank", "n", "rmse", "sam_deg")}
            | {"held_out": k in held}
            for k, v in evals.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    from flows.cli import main as cli_main

    return cli_main(__doc__.splitlines()[0], load_alignment_config, alignment_flow, argv)


if __name__ == "__main__":
    sys.exit(main())
