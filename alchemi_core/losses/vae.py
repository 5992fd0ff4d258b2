from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import NonNegativeFloat

from alchemi_core.data.batching import Batch
from alchemi_core.losses.base import Loss, detach_components
from alchemi_core.registry import Params, register_loss


class VAELossParams(Params):
    beta: NonNegativeFloat = 1.0
    reconstruction_weight: NonNegativeFloat = 1.0


@register_loss("VAELoss", params=VAELossParams)
class VAELoss(Loss):
    """loss = reconstruction_weight * reconstruction + beta * KL, both per row, batch-averaged.

    Reconstruction sums squared error over numerical and embedding columns and cross-entropy
    over categorical columns.
    """

    metric_names = (
        "reconstruction_loss",
        "kl_loss",
        "numerical_mse",
        "categorical_ce",
        "categorical_accuracy",
        "embedding_mse",
    )

    def __init__(self, beta: float = 1.0, reconstruction_weight: float = 1.0):
        super().__init__()
        if beta < 0 or reconstruction_weight < 0:
            raise ValueError("beta and reconstruction_weight must be >= 0")
        self.beta = beta
        self.reconstruction_weight = reconstruction_weight

    def forward(self, out: dict, batch: Batch) -> dict[str, torch.Tensor]:
        mu, logvar = out["mu"].float(), out["logvar"].float()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        recon = mu.new_zeros(())
        terms: dict[str, torch.Tensor] = {}
        if "numerical" in out:
            se = (out["numerical"].float() - batch["numerical"]).pow(2)
            recon = recon + se.sum(dim=1).mean()
            terms["numerical_mse"] = se.mean()
        if "embeddings" in out:
            se = (out["embeddings"].float() - batch["embeddings"]).pow(2)
            recon = recon + se.sum(dim=1).mean()
            terms["embedding_mse"] = se.mean()
        logits = out["categorical_logits"]
        if logits:
            target = batch["categorical"]
            ce = [F.cross_entropy(lg.float(), target[:, i]) for i, lg in enumerate(logits)]
            acc = [(lg.argmax(dim=1) == target[:, i]).float().mean() for i, lg in enumerate(logits)]
            recon = recon + torch.stack(ce).sum()
            terms["categorical_ce"] = torch.stack(ce).mean()
            terms["categorical_accuracy"] = torch.stack(acc).mean()
        loss = self.reconstruction_weight * recon + self.beta * kl
        return detach_components(
            {"loss": loss, "reconstruction_loss": recon, "kl_loss": kl, **terms}
        )
