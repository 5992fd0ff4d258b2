"""A sparse autoencoder with a choice of activation (relu, topk, batchtopk, jumprelu; see
alchemi_core/tabular/sae_activations.py) and the training hygiene of current SAE practice:

- decoder rows kept at unit norm: after each optimizer step they are renormalised, and before
  it the gradient's component parallel to each row is removed (`before_step`/`after_step`,
  called by the trainer), so the optimizer only turns the rows;
- the encoder starts as the decoder's transpose, with zero bias;
- `b_dec` starts at the geometric median (or the mean) of the first training batch;
- AuxK (topk, batchtopk): a latent is dead when it has not fired in the last `dead_window`
  training rows; the `aux_k` largest dead pre-activations of each row reconstruct the residual.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
)
from pydantic_core.core_schema import ValidationInfo
from torch import nn

from alchemi_core import distributed
from alchemi_core.registry import Params, register_model
from alchemi_core.tabular.batching import Batch
from alchemi_core.tabular.sae_activations import aux_topk, build_activation


def flat_input(batch: Batch) -> torch.Tensor:
    parts = [batch[k] for k in ("numerical", "embeddings") if k in batch]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class SAEParams(Params):
    input_dim: PositiveInt | None = None  # inferred from the data when omitted
    hidden_dim: PositiveInt  # number of latents (dictionary size)
    sparsity_weight: NonNegativeFloat = 0.0  # kept for reference; SAELoss applies its own
    # relu (L1 penalty), topk / batchtopk (k latents per row), jumprelu (learned thresholds)
    activation: Literal["relu", "topk", "batchtopk", "jumprelu"] = "relu"
    k: PositiveInt | None = Field(
        None, validate_default=True, description="topk, batchtopk: latents per row"
    )
    aux_k: NonNegativeInt = 0  # topk, batchtopk: AuxK latents (0: no AuxK term)
    dead_window: PositiveInt = 10_000  # rows without firing after which a latent is dead
    threshold_init: PositiveFloat = 0.5  # jumprelu: every latent's starting threshold
    bandwidth: PositiveFloat = 0.1  # jumprelu: width of the straight-through kernel
    # where the decoder bias starts: the first batch's geometric median or mean, or zeros
    b_dec_init: Literal["geometric_median", "mean", "zeros"] = "geometric_median"

    @field_validator("k")
    @classmethod
    def _k(cls, k: int | None, info: ValidationInfo) -> int | None:
        act, hidden = info.data.get("activation"), info.data.get("hidden_dim")
        if act in ("topk", "batchtopk"):
            if k is None:
                raise ValueError(f"activation {act!r} needs k (latents per row)")
            if hidden is not None and k > hidden:
                raise ValueError(f"k {k} is more than hidden_dim {hidden}")
        return k

    @field_validator("aux_k")
    @classmethod
    def _aux_k(cls, aux_k: int, info: ValidationInfo) -> int:
        act = info.data.get("activation")
        if aux_k and act not in ("topk", "batchtopk"):
            raise ValueError(f"AuxK is for topk and batchtopk, not {act!r}; set aux_k: 0")
        return aux_k


@register_model("SAE", params=SAEParams)
class SAE(nn.Module):
    output_keys = ("input", "latents", "reconstruction", "decoder_norms", "sparsity")

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        sparsity_weight: float = 0.0,
        activation: str = "relu",
        k: int | None = None,
        aux_k: int = 0,
        dead_window: int = 10_000,
        threshold_init: float = 0.5,
        bandwidth: float = 0.1,
        b_dec_init: str = "geometric_median",
    ):
        super().__init__()
        SAEParams(  # the same checks when built from Python
            input_dim=input_dim, hidden_dim=hidden_dim, activation=activation, k=k, aux_k=aux_k,
            dead_window=dead_window, threshold_init=float(threshold_init),
            bandwidth=float(bandwidth), b_dec_init=b_dec_init,
        )  # fmt: skip
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.sparsity_weight = sparsity_weight
        self.activation_name, self.k, self.aux_k = activation, k, aux_k
        self.dead_window, self.b_dec_init = dead_window, b_dec_init
        self.b_dec = nn.Parameter(torch.zeros(input_dim))
        self.encoder = nn.Linear(input_dim, hidden_dim)
        w = torch.randn(hidden_dim, input_dim)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w)
        with torch.no_grad():
            self.encoder.weight.copy_(w)
            self.encoder.bias.zero_()
        self.activation = build_activation(activation, hidden_dim, k, threshold_init, bandwidth)
        self.register_buffer("b_dec_initialised", torch.tensor(False))
        self.register_buffer("rows_since_fired", torch.zeros(hidden_dim))
        self._b_dec_ready = False
        # the last training forward's decoder norms, for before_step (a plain dict: setting a
        # module attribute per batch costs more than the ops around it)
        self._step: dict[str, torch.Tensor] = {}

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x - self.b_dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.pre_activations(x))

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = flat_input(batch)
        if self.training and not self._b_dec_ready:  # python flag: no host sync per batch
            self._init_b_dec(x)
        z = self.pre_activations(x)
        f = self.activation(z)
        norms = torch.linalg.vector_norm(self.W_dec, dim=1)
        out = {"input": x, "latents": f, "reconstruction": f @ self.W_dec + self.b_dec}
        out["decoder_norms"] = norms
        penalty = self.activation.penalty(z, f, norms)  # None: topk, batchtopk (no penalty)
        out["sparsity"] = penalty if penalty is not None else f.new_zeros(f.shape[0])
        if self.training:
            self._step["norms"] = norms.detach()  # before_step's, of the same weights
            if self.aux_k:
                dead = self.rows_since_fired >= self.dead_window
                aux, out["aux_scale"] = aux_topk(z, dead, self.aux_k)
                out["aux_reconstruction"] = aux @ self.W_dec
            with torch.no_grad():
                out["fires"] = (f > 0).sum(dim=0, dtype=f.dtype)  # per latent; SAELoss reads it
                self._count_firing(out["fires"], f.shape[0])
            # read at the epoch's end by SAELoss (dead_window_fraction), not per batch
            out["rows_since_fired"], out["dead_window"] = self.rows_since_fired, self.dead_window
        return out

    def _count_firing(self, fires: torch.Tensor, n: int) -> None:
        """Rows since each latent last fired, over every rank's rows (one small all-reduce).
        Called under no_grad."""
        fired = fires > 0  # some row fired it
        rows: float | torch.Tensor = float(n)
        if distributed.world() > 1:
            both = distributed.reduce_sum(torch.cat([fired.float(), fires.new_tensor([rows])]))
            fired, rows = both[:-1] > 0, both[-1:]
        self.rows_since_fired.add_(rows).masked_fill_(fired, 0.0)

    @torch.no_grad()
    def _init_b_dec(self, x: torch.Tensor) -> None:
        if not bool(self.b_dec_initialised):
            if self.b_dec_init != "zeros":
                median = self.b_dec_init == "geometric_median"
                self.b_dec.copy_(geometric_median(x) if median else distributed.mean_rows(x))
            self.b_dec_initialised.fill_(True)
        self._b_dec_ready = True

    @torch.no_grad()
    def before_step(self) -> None:
        """Remove the gradient's component parallel to each (unit) decoder row."""
        g = self.W_dec.grad
        if g is not None:
            norms = self._step.pop("norms", None)  # the forward's, else computed now
            if norms is None:
                norms = torch.linalg.vector_norm(self.W_dec, dim=1)
            w = self.W_dec / norms.clamp_min(1e-12).unsqueeze(1)
            g.sub_((g * w).sum(dim=1, keepdim=True) * w)

    @torch.no_grad()
    def after_step(self) -> None:
        """Decoder rows back to unit norm."""
        self.W_dec.div_(torch.linalg.vector_norm(self.W_dec, dim=1, keepdim=True).clamp_min(1e-12))

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


def geometric_median(x: torch.Tensor, iters: int = 50, tol: float = 1e-6) -> torch.Tensor:
    """The point minimising the summed distance to every rank's rows of `x` (Weiszfeld's
    iterations from the mean): a centre that outliers pull less than the mean."""
    m = distributed.mean_rows(x)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=1, keepdim=True).clamp_min(1e-8)
        new = distributed.mean_rows(w * x) / distributed.mean_rows(w)
        moved = float((new - m).norm())
        m = new
        if moved <= tol * (1.0 + float(m.norm())):
            break
    return m
