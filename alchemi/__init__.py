"""The import paths the reference documents use, over alchemi_core (re-exports only).

- alchemi.config: the central config schema (GlobalConfig, TrainingConfig, load_config, ...)
- alchemi.train.alignment_trainer.AlignmentTrainer
- alchemi.training.trainer.run_pretrain_mae
- alchemi.models.factory.build_set_encoder
"""

from alchemi_core import *  # noqa: F403  (the registries, Params, register_*, __version__)
from alchemi_core import __all__  # noqa: F401
