from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import NonNegativeFloat, NonNegativeInt

from alchemi_core.registry import Params, register_loss
from alchemi_core.tabular.batching import Batch
from alchemi_core.tabular.loss import Loss, detach_components

BALANCE = ("columns", "sum", "groups")


class VAELossParams(Params):
    beta: NonNegativeFloat = 1.0
    reconstruction_weight: NonNegativeFloat = 1.0
    kl_warmup_epochs: NonNegativeInt = 0
    free_bits: NonNegativeFloat = 0.0
    balance: Literal["columns", "sum", "groups"] = "columns"
    numerical_weight: NonNegativeFloat = 1.0
    categorical_weight: NonNegativeFloat = 1.0
    embedding_weight: NonNegativeFloat = 1.0


@register_loss("VAELoss", params=VAELossParams)
class VAELoss(Loss):
    """loss = reconstruction_weight * reconstruction + kl_weight * KL, per row, batch-averaged.

    Reconstruction: squared error for numerical and embedding columns, cross-entropy for
    categorical ones, each group scaled by its `*_weight`.
      balance="columns" (default) sum over columns of each column's loss divided by that of its
                        trivial predictor on the train split (set_norms): the variance of a
                        numerical or embedding dimension, the marginal entropy of a categorical.
                        The trivial predictor scores 1 on every column, whatever its scale or
                        level count. Without norms (set_norms not called) it is "sum".
      balance="sum"     sum over columns of the raw losses (a group's weight grows with its
                        column count; a 50-level column's nats sit next to a z-scored MSE).
      balance="groups"  every group present (numerical, categorical, embeddings) gets an equal
                        share of the column count: 9 categoricals do not drown 2 numericals.
    KL: kl_weight rises linearly from 0 at epoch 1 to `beta` at epoch kl_warmup_epochs + 1
    (set by the trainer through start_epoch, train loss only; without it, kl_weight = beta).
    free_bits > 0 stops pushing a latent dimension's batch-mean KL below that many nats.
    """

    reads = ("mu", "logvar", "categorical_logits")  # model outputs (models' output_keys)
    metric_names = (
        "reconstruction_loss",
        "kl_loss",
        "numerical_mse",
        "categorical_ce",
        "categorical_accuracy",
        "embedding_mse",
    )

    def __init__(
        self,
        beta: float = 1.0,
        reconstruction_weight: float = 1.0,
        kl_warmup_epochs: int = 0,
        free_bits: float = 0.0,
        balance: str = "columns",
        numerical_weight: float = 1.0,
        categorical_weight: float = 1.0,
        embedding_weight: float = 1.0,
    ):
        super().__init__()
        weights = (beta, reconstruction_weight, free_bits)
        weights += (numerical_weight, categorical_weight, embedding_weight)
        if min(weights) < 0 or kl_warmup_epochs < 0:
            raise ValueError("weights, free_bits and kl_warmup_epochs must be >= 0")
        if balance not in BALANCE:
            raise ValueError(f"balance must be one of {', '.join(BALANCE)}, not {balance!r}")
        self.beta = beta
        self.reconstruction_weight = reconstruction_weight
        self.kl_warmup_epochs = int(kl_warmup_epochs)
        self.free_bits = free_bits
        self.balance = balance
        self.group_weights = {
            "numerical": numerical_weight,
            "categorical": categorical_weight,
            "embeddings": embedding_weight,
        }
        self.kl_weight = beta
        self.norms: dict[str, torch.Tensor] = {}

    def set_norms(self, norms: dict[str, list[float]]) -> None:
        """Each column's trivial loss (tabular/column_norms.py), for balance="columns"."""
        self.norms = {g: torch.tensor(v, dtype=torch.float32) for g, v in norms.items()}

    def _inverse_norm(self, group: str, like: torch.Tensor) -> torch.Tensor | None:
        norm = self.norms.get(group)
        if norm is None or self.balance != "columns":
            return None
        if norm.device != like.device:
            self.norms[group] = norm = norm.to(like.device)
        return 1.0 / norm

    def start_epoch(self, epoch: int) -> None:
        """KL warm-up: called by the trainer before training epoch `epoch` (from 1)."""
        done = (epoch - 1) / self.kl_warmup_epochs if self.kl_warmup_epochs else 1.0
        self.kl_weight = self.beta * min(1.0, max(0.0, done))

    def column_scales(self, widths: dict[str, int]) -> dict[str, float]:
        """What multiplies each group's per-column mean term (widths: columns per group)."""
        present = {g: n for g, n in widths.items() if n}
        if self.balance in ("sum", "columns"):
            return {g: self.group_weights[g] * n for g, n in present.items()}
        share = sum(present.values()) / len(present)
        return {g: self.group_weights[g] * share for g in present}

    def _normed(self, group: str, per_col: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """The group's per-column mean term: of loss / trivial loss under balance="columns"."""
        inv = self._inverse_norm(group, per_col)
        return mean if inv is None else (per_col * inv).mean()

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(KL per row, batch-averaged; the term optimised, free bits applied)."""
        per_dim = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
        if not self.free_bits:
            kl = per_dim.sum(dim=1).mean()
            return kl, kl
        dims = per_dim.mean(dim=0)
        return dims.sum(), dims.clamp(min=self.free_bits).sum()

    def forward(self, out: dict, batch: Batch) -> dict[str, torch.Tensor]:
        # Hot path (per batch): no float() copies of float32 tensors, no multiplies by 1.0,
        # accuracy counted without autograd in one comparison.
        kl, kl_term = self.kl(_f32(out["mu"]), _f32(out["logvar"]))
        means: dict[str, torch.Tensor] = {}
        terms: dict[str, torch.Tensor] = {}
        for group, name in (("numerical", "numerical_mse"), ("embeddings", "embedding_mse")):
            if group in out:
                per_col = (_f32(out[group]) - batch[group]).pow(2).mean(dim=0)
                terms[name] = per_col.mean()
                means[group] = self._normed(group, per_col, terms[name])
        logits = out["categorical_logits"]
        if logits:
            target = batch["categorical"]
            ce = [F.cross_entropy(_f32(lg), target[:, i]) for i, lg in enumerate(logits)]
            per_col = torch.stack(ce)
            terms["categorical_ce"] = per_col.mean()
            means["categorical"] = self._normed("categorical", per_col, terms["categorical_ce"])
            with torch.no_grad():
                hits = torch.stack([lg.argmax(dim=1) for lg in logits], 1) == target
                terms["categorical_accuracy"] = hits.float().mean()
        widths = {"numerical": 0, "embeddings": 0, "categorical": len(logits)}
        for g in ("numerical", "embeddings"):
            widths[g] = out[g].shape[1] if g in out else 0
        scales = self.column_scales(widths)
        parts = [m if scales[g] == 1.0 else scales[g] * m for g, m in means.items()]
        recon = parts[0] if parts else kl.new_zeros(())
        for part in parts[1:]:
            recon = recon + part
        loss = _scaled(self.reconstruction_weight, recon) + _scaled(self.kl_weight, kl_term)
        return detach_components(
            {"loss": loss, "reconstruction_loss": recon, "kl_loss": kl, **terms}
        )


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def _scaled(w: float, t: torch.Tensor) -> torch.Tensor:
    return t if w == 1.0 else w * t
