from alchemi_core.models.sae import SAE
from alchemi_core.models.vae import VAE

__all__ = ["SAE", "VAE"]
