"""`build_set_encoder` (re-exported): the SetEncoder both spectral stacks share."""

from alchemi_core.nn.set_encoder import build_set_encoder

__all__ = ["build_set_encoder"]
