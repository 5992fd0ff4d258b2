"""A model rebuilt from its checkpoint file: the class from the registry, its params and data
spec from the checkpoint, then the weights. `assembly.load_model` is this function; it lives
apart so that modules the assembly itself builds (the MLflow tracker) can use it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from alchemi_core import builders
from alchemi_core.errors import CheckpointError
from alchemi_core.registry import MODELS
from alchemi_core.run import checkpoints
from alchemi_core.tabular.batching import DataSpec

MODEL_KEYS = {"model_class": str, "model_params": dict, "data_spec": dict, "model_state": dict}


def load_model(
    checkpoint: str | Path, device: str | torch.device = "cpu", load_strategy: str = "best"
) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a checkpoint file (or run/checkpoints folder), rebuilt in eval mode.

    The returned checkpoint dict gains "path": the file actually loaded. Loading never imports
    code: the `imports` saved in the checkpoint's config are ignored (only the config the
    user passes may import modules, before this is called).
    """
    path = checkpoints.resolve(checkpoint, load_strategy)
    ckpt = checkpoints.load(path, map_location=device)
    checkpoints.require(ckpt, path, MODEL_KEYS)
    builders.load_plugins()  # installed packages' models (entry points), never a file's list
    cls = MODELS.get(ckpt["model_class"], str(path), "model_class")
    try:
        spec = DataSpec.from_dict(ckpt["data_spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"unreadable ({type(exc).__name__}: {exc})", path, "data_spec"
        ) from None
    model = builders.instantiate_model(cls, ckpt["model_params"], spec, str(path))
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0][:160]
        raise CheckpointError(f"weights do not fit {ckpt['model_class']}: {reason}", path) from None
    ckpt["path"] = str(path)
    return model.to(device).eval(), ckpt
