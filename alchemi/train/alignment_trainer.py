"""`AlignmentTrainer` (re-exported): `AlignmentTrainer.from_yaml(path).fit()` trains a run."""

from alchemi_core.alignment.trainer import AlignmentTrainer

__all__ = ["AlignmentTrainer"]
