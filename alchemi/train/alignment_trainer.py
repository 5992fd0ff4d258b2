"""`AlignmentTrainer` (re-exported): `AlignmentTrainer.from_yaml(path).fit()` trains a run."""

from alchemi_core.training.alignment_trainer import AlignmentTrainer

__all__ = ["AlignmentTrainer"]
