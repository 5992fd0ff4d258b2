"""A VAE for mixed tabular data: numerical, categorical (learned embeddings) and embedding columns."""

from __future__ import annotations

import torch
from pydantic import Field, PositiveInt
from torch import nn
from torch.nn import functional as F

from alchemi_core.errors import ConfigError
from alchemi_core.registry import Params, register_model
from alchemi_core.tabular.batching import Batch, DataSpec


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers)


# The posterior's log-variance lives in (LOGVAR_MIN, LOGVAR_MAX), reached smoothly: variance at
# most e^2 (std 2.7, wider than the prior's 1 is never needed), at least e^-12 (std 0.0025).
# The old hard clamp at +-20 let exp(logvar) reach 4.8e8 in the KL term and the sampled noise.
LOGVAR_MIN, LOGVAR_MAX = -12.0, 2.0


def bounded_logvar(raw: torch.Tensor) -> torch.Tensor:
    """A smooth two-sided clamp: about `raw` inside the bounds, flat beyond them."""
    low = LOGVAR_MIN + F.softplus(raw - LOGVAR_MIN)
    return LOGVAR_MAX - F.softplus(LOGVAR_MAX - low)


def default_cat_dim(cardinality: int) -> int:
    return min(16, max(2, (cardinality + 1) // 2))


class VAEParams(Params):
    latent_dim: PositiveInt = Field(description="size of the latent (the embedding's width)")
    hidden_dims: list[PositiveInt] | None = Field(
        None, description="encoder layer widths (decoder mirrors them); null: [128, 64]; []: none"
    )
    input_dim: PositiveInt | None = Field(
        None, description="encoder input width; inferred from the data when omitted"
    )
    cat_embedding_dim: PositiveInt | None = Field(
        None, description="width of each categorical's embedding; null: from its cardinality"
    )

    def embedding_width(self) -> int:
        """The width of what `VAE.embed` returns (the next stage's input_dim)."""
        return self.latent_dim


@register_model("VAE", params=VAEParams)
class VAE(nn.Module):
    """Encoder input = numerical ++ embedded categoricals ++ embedding columns.

    `input_dim` is that encoder input width; it is inferred from the data when omitted. When
    given, categorical embeddings (without `cat_embedding_dim`) are sized to fill it; with no
    categorical column it must match the data.
    """

    output_keys = ("mu", "logvar", "z", "categorical_logits", "numerical", "embeddings")

    def __init__(
        self,
        latent_dim: int,
        data_spec: DataSpec,
        hidden_dims: list[int] | None = None,
        input_dim: int | None = None,
        cat_embedding_dim: int | None = None,
    ):
        super().__init__()
        if latent_dim < 1:
            raise ConfigError("must be >= 1", key="model.params.latent_dim")
        hidden = list(hidden_dims if hidden_dims is not None else [128, 64])
        self.spec = data_spec
        self.n_num = len(data_spec.numerical)
        self.emb_dim = data_spec.embedding_dim
        cards = list(data_spec.categorical.values())
        dims = [cat_embedding_dim or default_cat_dim(k) for k in cards]
        width = self.n_num + self.emb_dim + sum(dims)
        free = (input_dim or 0) - self.n_num - self.emb_dim
        if (
            input_dim not in (None, width)
            and cards
            and not cat_embedding_dim
            and free >= len(cards)
        ):
            # input_dim given (as in the reference's Example 1): the categorical embeddings
            # share the width the numerical and embedding columns leave.
            dims = [free // len(cards) + (i < free % len(cards)) for i in range(len(cards))]
            width = input_dim
        self.cat_embed = nn.ModuleList(nn.Embedding(k, d) for k, d in zip(cards, dims, strict=True))
        if input_dim is not None and input_dim != width:
            raise ConfigError(
                f"{input_dim} does not match the data's encoder input width {width} "
                f"({self.n_num} numerical + {len(cards)} categorical embedded + {self.emb_dim} "
                "embedding); omit it to infer",
                key="model.params.input_dim",
            )
        self.input_dim = width
        self.latent_dim = latent_dim
        self.encoder = mlp([width, *hidden])
        last = hidden[-1] if hidden else width
        self.mu = nn.Linear(last, latent_dim)
        self.logvar = nn.Linear(last, latent_dim)
        self.decoder = mlp([latent_dim, *reversed(hidden)])
        out = hidden[0] if hidden else latent_dim
        self.num_head = nn.Linear(out, self.n_num) if self.n_num else None
        self.emb_head = nn.Linear(out, self.emb_dim) if self.emb_dim else None
        self.cat_heads = nn.ModuleList(nn.Linear(out, k) for k in cards)

    def encoder_input(self, batch: Batch) -> torch.Tensor:
        parts = []
        if self.n_num:
            parts.append(batch["numerical"])
        if len(self.cat_embed):
            cats = batch["categorical"]
            parts += [emb(cats[:, i]) for i, emb in enumerate(self.cat_embed)]
        if self.emb_dim:
            parts.append(batch["embeddings"])
        return torch.cat(parts, dim=1)

    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.encoder_input(batch))
        return self.mu(h), bounded_logvar(self.logvar(h))

    def decode(self, z: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        h = self.decoder(z)
        out: dict = {"categorical_logits": [head(h) for head in self.cat_heads]}
        if self.num_head is not None:
            out["numerical"] = self.num_head(h)
        if self.emb_head is not None:
            out["embeddings"] = self.emb_head(h)
        return out

    def forward(self, batch: Batch) -> dict:
        mu, logvar = self.encode(batch)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return {"mu": mu, "logvar": logvar, "z": z, **self.decode(z)}

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        """The embedding of a row: the encoder mean (the log-variance head is not run)."""
        return self.mu(self.encoder(self.encoder_input(batch)))

    def predictions(self, out: dict) -> list[tuple[list[str], torch.Tensor]]:
        """Prediction columns of a forward's outputs: numerical columns reconstructed
        (standardised units), embedding columns (`<name>_<i>`), and per categorical column
        the predicted class index (`<col>`) and its probability (`<col>_prob`)."""
        spec = self.spec
        parts = []
        if "numerical" in out:
            parts.append((list(spec.numerical), out["numerical"]))
        if "embeddings" in out:
            width = out["embeddings"].shape[1]
            name = spec.embeddings[0] if len(spec.embeddings) == 1 else "embedding"
            parts.append(([f"{name}_{i}" for i in range(width)], out["embeddings"]))
        for col, logits in zip(spec.categorical, out["categorical_logits"], strict=True):
            prob, idx = logits.float().softmax(dim=1).max(dim=1)
            parts.append(([col, f"{col}_prob"], torch.stack([idx.float(), prob], dim=1)))
        return parts
