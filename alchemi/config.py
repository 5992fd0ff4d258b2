"""The central config schema (re-exported from alchemi_core.config)."""

from alchemi_core.alignment.config import AlignmentConfig, load_alignment_config
from alchemi_core.config import (
    ExtractConfig,
    PipelineConfig,
    PredictConfig,
    SweepConfig,
    TrainingConfig,
)
from alchemi_core.config.loading import load_config
from alchemi_core.config.schema import Experiment, GlobalConfig, MLflowConfig
from alchemi_core.mae.config import MAEConfig, TrainCfg

__all__ = [
    "AlignmentConfig",
    "Experiment",
    "ExtractConfig",
    "GlobalConfig",
    "MAEConfig",
    "MLflowConfig",
    "PipelineConfig",
    "PredictConfig",
    "SweepConfig",
    "TrainCfg",
    "TrainingConfig",
    "load_alignment_config",
    "load_config",
]
