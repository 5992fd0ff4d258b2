"""Config models. Which model reads which file: config/kinds.py (every kind, detected)."""

from alchemi_core.config.inference import ExtractConfig, PredictConfig
from alchemi_core.config.pipeline import PipelineConfig
from alchemi_core.config.schema import TrainingConfig
from alchemi_core.config.sweep import SweepConfig

__all__ = ["ExtractConfig", "PipelineConfig", "PredictConfig", "SweepConfig", "TrainingConfig"]
