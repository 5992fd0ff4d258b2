"""One training run as a flow (for deployments): train -> checkpoint -> validate, cached.

python flows/train.py --config configs/vae/penguins_debug.yaml [--refresh]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make tasks/ importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow

from alchemi_core.config.loading import load_config
from flows.stages import Steps, resolve, submit_model
from tasks import forking


@flow(name="train")
def train_flow(config: str, refresh: bool = False) -> dict[str, Any]:
    """Train the model in `config` (a training YAML path); `refresh` re-runs every step."""
    forking.install()
    cfg = load_config(config)
    results, states = resolve(submit_model(Steps(refresh), cfg, config, None))
    train = {k: v for k, v in results["train"].items() if k != "outputs"}
    return {
        "states": states,
        "train": train,
        "checkpoint": results["checkpoint"]["path"],
        "metrics": results["validate"]["metrics"],
    }


def main(argv: list[str] | None = None) -> int:
    from flows.cli import main as cli_main

    return cli_main(__doc__.splitlines()[0], load_config, train_flow, argv)


if __name__ == "__main__":
    sys.exit(main())
