"""Config models, and which model validates the YAML files in each configs/ folder."""

from alchemi_core.config.inference import ExtractConfig, PredictConfig
from alchemi_core.config.schema import TrainingConfig

# configs/<folder>/*.yaml -> the pydantic model that validates it (tests/test_configs.py).
CONFIG_KINDS: dict[str, type] = {
    "vae": TrainingConfig,
    "sae": TrainingConfig,
    "extract": ExtractConfig,
    "predict": PredictConfig,
}

__all__ = ["CONFIG_KINDS", "ExtractConfig", "PredictConfig", "TrainingConfig"]

# Pipelines and sweeps (issue 4). load_config checks their shape; load_pipeline / load_sweep
# (config/pipeline.py) also validate the training configs they name.
from alchemi_core.config.pipeline import PipelineConfig, SweepConfig  # noqa: E402

CONFIG_KINDS.update({"pipelines": PipelineConfig, "sweeps": SweepConfig})
__all__ += ["PipelineConfig", "SweepConfig"]

# The MAE harness: configs/train.mae.yaml (top level, as the spec names it) and configs/mae/.
from alchemi_core.config.mae import MAEConfig  # noqa: E402

CONFIG_KINDS.update({"mae": MAEConfig, "train.mae.yaml": MAEConfig})
__all__ += ["MAEConfig"]
