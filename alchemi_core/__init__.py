"""alchemi: config-driven training of VAE, SAE and spectral models. No Prefect in here."""

# Built-ins register explicitly here, so every process (and spawned worker) sees the same names.
from alchemi_core import data as _data  # noqa: E402,F401
from alchemi_core import losses as _losses  # noqa: E402,F401
from alchemi_core import models as _models  # noqa: E402,F401
from alchemi_core.registry import (
    DATALOADERS,
    LOSSES,
    MODELS,
    register_dataloader,
    register_loss,
    register_model,
)
from alchemi_core.version import __version__, code_version  # noqa: E402

__all__ = [
    "DATALOADERS",
    "LOSSES",
    "MODELS",
    "__version__",
    "code_version",
    "register_dataloader",
    "register_loss",
    "register_model",
]
