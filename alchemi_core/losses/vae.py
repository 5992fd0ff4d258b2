from __future__ import annotations

import torch
import torch.nn.functional as F

from alchemi_core.data.batching import Batch
from alchemi_core.losses.base import Loss
from alchemi_core.registry import register_loss


@register_loss("VAELoss")
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
        # Hot path: no zero tensors, no 1.0 multiplies, no per-term copies (they cost ~5% of
        # a small model's epoch). Terms come out detached, except "loss".
        mu, logvar = _f32(out["mu"]), _f32(out["logvar"])
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        parts: list[torch.Tensor] = []
        terms: dict[str, torch.Tensor] = {}
        for key, name in (("numerical", "numerical_mse"), ("embeddings", "embedding_mse")):
            if key in out:
                se = (_f32(out[key]) - batch[key]).pow(2)
                parts.append(se.sum(dim=1).mean())
                terms[name] = se.detach().mean()
        logits = out["categorical_logits"]
        if logits:
            target = batch["categorical"]
            ce = torch.stack(
                [F.cross_entropy(_f32(lg), target[:, i]) for i, lg in enumerate(logits)]
            )
            parts.append(ce.sum())
            with torch.no_grad():
                hits = torch.stack([lg.argmax(dim=1) for lg in logits], 1) == target
                terms["categorical_ce"] = ce.mean()
                terms["categorical_accuracy"] = hits.float().mean()
        recon = parts[0] if parts else kl.new_zeros(())
        for part in parts[1:]:
            recon = recon + part
        loss = _scaled(self.reconstruction_weight, recon) + _scaled(self.beta, kl)
        return {
            "loss": loss,
            "reconstruction_loss": recon.detach(),
            "kl_loss": kl.detach(),
            **terms,
        }


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def _scaled(w: float, t: torch.Tensor) -> torch.Tensor:
    return t if w == 1.0 else w * t
