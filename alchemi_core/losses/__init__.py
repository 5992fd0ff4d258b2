from alchemi_core.losses.base import Loss
from alchemi_core.losses.sae import SAELoss
from alchemi_core.losses.vae import VAELoss

__all__ = ["Loss", "SAELoss", "VAELoss"]
