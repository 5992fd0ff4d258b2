"""alchemi: config-driven training of VAE, SAE and spectral models. No Prefect in here.

Importing this package is cheap (no torch): the built-in models, losses and loaders register
the first time a registry is asked for a name (registry.load_builtins).
"""

from alchemi_core.registry import (
    DATALOADERS,
    LOSSES,
    MODELS,
    Params,
    register_dataloader,
    register_loss,
    register_model,
)
from alchemi_core.version import __version__, code_version

__all__ = [
    "DATALOADERS",
    "LOSSES",
    "MODELS",
    "Params",
    "__version__",
    "code_version",
    "register_dataloader",
    "register_loss",
    "register_model",
]


def __getattr__(name: str):
    """`from alchemi_core import Loss`: the base class of a loss, imported (with torch) on use."""
    if name == "Loss":
        from alchemi_core.tabular.loss import Loss

        return Loss
    raise AttributeError(f"module 'alchemi_core' has no attribute {name!r}")
