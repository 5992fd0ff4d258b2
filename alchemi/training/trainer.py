"""`run_pretrain_mae` (the reference's name for `alchemi_core.api.pretrain_mae`): the synthetic
MAE harness behind `alchemi pretrain-mae`."""

from alchemi_core.api import pretrain_mae as run_pretrain_mae

__all__ = ["run_pretrain_mae"]
