"""A sparse autoencoder: ReLU latents, unit-norm decoder rows, a learned pre-encoder bias.

Initialisation (against dead latents): decoder rows are random unit vectors, the encoder is
their transpose with zero bias, and b_dec is set to the mean of the first training batch, so
every latent starts out firing on about half of the centred data.
"""

from __future__ import annotations

import torch
from pydantic import Field, NonNegativeFloat, PositiveInt
from torch import nn

from alchemi_core import distributed
from alchemi_core.data.batching import Batch
from alchemi_core.registry import Params, register_model


def flat_input(batch: Batch) -> torch.Tensor:
    parts = [batch[k] for k in ("numerical", "embeddings") if k in batch]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class SAEParams(Params):
    input_dim: PositiveInt | None = Field(
        None, description="width of the input embeddings; inferred from the data when omitted"
    )
    hidden_dim: PositiveInt = Field(description="number of latents (dictionary size)")
    sparsity_weight: NonNegativeFloat = Field(
        0.0, description="kept for reference; SAELoss applies its own sparsity_weight"
    )


@register_model("SAE", params=SAEParams)
class SAE(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, sparsity_weight: float = 0.0):
        super().__init__()
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.sparsity_weight = sparsity_weight  # kept for reference; SAELoss applies its own
        self.b_dec = nn.Parameter(torch.zeros(input_dim))
        self.encoder = nn.Linear(input_dim, hidden_dim)
        w = torch.randn(hidden_dim, input_dim)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w)
        with torch.no_grad():
            self.encoder.weight.copy_(w)
            self.encoder.bias.zero_()
        self.register_buffer("b_dec_initialised", torch.tensor(False))
        self._b_dec_ready = False

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.encoder(x - self.b_dec))

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = flat_input(batch)
        if self.training and not self._b_dec_ready:  # python flag: no host sync per batch
            if not bool(self.b_dec_initialised):
                with torch.no_grad():
                    self.b_dec.copy_(distributed.mean_rows(x))  # all ranks' rows
                    self.b_dec_initialised.fill_(True)
            self._b_dec_ready = True
        f = self.encode(x)
        return {
            "input": x,
            "latents": f,
            "reconstruction": f @ self.W_dec + self.b_dec,
            "decoder_norms": self.W_dec.norm(dim=1),
        }

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        return self.encode(flat_input(batch))

    def predictions(self, out: dict) -> list[tuple[list[str], torch.Tensor]]:
        """Prediction columns: `reconstruction_<i>` per input dimension, `latent_<j>` per latent."""
        rec, lat = out["reconstruction"], out["latents"]
        return [
            ([f"reconstruction_{i}" for i in range(rec.shape[1])], rec),
            ([f"latent_{j}" for j in range(lat.shape[1])], lat),
        ]
