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
