"""`run_pretrain_mae` (re-exported): the synthetic MAE harness behind `alchemi pretrain-mae`."""

from alchemi_core.mae.harness import run_pretrain_mae

__all__ = ["run_pretrain_mae"]
