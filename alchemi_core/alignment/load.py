"""An alignment run's model back from its folder, and the runtime its evaluation and pictures
use. Apart from align_api so that the run itself (its pictures) can load it without a cycle."""

from __future__ import annotations

from pathlib import Path

import torch

from alchemi_core import runtime
from alchemi_core.alignment.config import AlignmentConfig
from alchemi_core.alignment.model import AlignmentModel, alignment_model
from alchemi_core.config.loading import read_yaml, validate
from alchemi_core.errors import CheckpointError
from alchemi_core.run import checkpoints


def load_run(
    run_dir: str | Path, which: str = "best", checkpoint: str | Path | None = None
) -> tuple[AlignmentConfig, AlignmentModel, dict]:
    """The config, model (eval mode, CPU float32) and checkpoint (`checkpoint`, else the
    run's `which` one) of an alignment run."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise CheckpointError("not an alignment run folder (no config.yaml)", run_dir)
    cfg = validate(read_yaml(cfg_path), AlignmentConfig, cfg_path)
    path = checkpoint or checkpoints.resolve(run_dir, which)
    ckpt = checkpoints.load(path)
    if ckpt.get("model_class") != "AlignmentModel":
        raise CheckpointError("not an alignment checkpoint", run_dir)
    checkpoints.require(ckpt, path, {"lab_wavelengths": list | tuple, "model_state": dict})
    model = alignment_model(cfg, ckpt["lab_wavelengths"], ckpt.get("cycle_wavelengths"))
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError:
        raise CheckpointError("checkpoint does not match its config.yaml", run_dir) from None
    return cfg, model.eval(), ckpt


def cpu_runtime(seed: int = 0) -> runtime.Runtime:
    """Evaluation and pictures run on the CPU in float32."""
    return runtime.Runtime(seed, "--seed", torch.device("cpu"), torch.float32, None, False)
