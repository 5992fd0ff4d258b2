"""The import paths the reference documents use, over alchemi_core (re-exports only).

- alchemi.config: the central config schema (GlobalConfig, TrainingConfig, load_config, ...)
- alchemi.train.alignment_trainer.AlignmentTrainer
- alchemi.training.trainer.run_pretrain_mae
- alchemi.models.factory.build_set_encoder
"""

from alchemi_core import (
    DATALOADERS,
    LOSSES,
    MODELS,
    Params,
    __version__,
    register_dataloader,
    register_loss,
    register_model,
)

__all__ = [
    "DATALOADERS",
    "LOSSES",
    "MODELS",
    "Params",
    "__version__",
    "register_dataloader",
    "register_loss",
    "register_model",
]
