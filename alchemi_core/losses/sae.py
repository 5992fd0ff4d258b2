from __future__ import annotations

import torch
from pydantic import NonNegativeFloat

from alchemi_core.data.batching import Batch
from alchemi_core.losses.base import Loss, detach_components
from alchemi_core.registry import Params, register_loss


class SAELossParams(Params):
    sparsity_weight: NonNegativeFloat = 0.01


@register_loss("SAELoss", params=SAELossParams)
class SAELoss(Loss):
    """loss = MSE(reconstruction) + sparsity_weight * mean_row(sum_i f_i * ||W_dec_i||).

    Also reports mean L0 per batch and, over the whole epoch, the dead-latent fraction
    (latents that never fired) and the fraction of variance explained (FVE).
    """

    metric_names = ("reconstruction_loss", "sparsity_loss", "l0", "dead_fraction", "fve")

    def __init__(self, sparsity_weight: float = 0.01):
        super().__init__()
        if sparsity_weight < 0:
            raise ValueError("sparsity_weight must be >= 0")
        self.sparsity_weight = sparsity_weight
        self.reset()

    def reset(self) -> None:
        self._fired: torch.Tensor | None = None
        self._n = 0
        self._sse = self._sx = self._sxx = None

    def forward(self, out: dict, batch: Batch) -> dict[str, torch.Tensor]:
        x, x_hat, f = out["input"].float(), out["reconstruction"].float(), out["latents"].float()
        err = (x_hat - x).pow(2)
        mse = err.mean()
        sparsity = (f * out["decoder_norms"].float()).sum(dim=1).mean()
        active = f > 0
        self._accumulate(x.detach(), err.detach(), active)
        return detach_components(
            {
                "loss": mse + self.sparsity_weight * sparsity,
                "reconstruction_loss": mse,
                "sparsity_loss": sparsity,
                "l0": active.float().sum(dim=1).mean(),
            }
        )

    def _accumulate(self, x: torch.Tensor, err: torch.Tensor, active: torch.Tensor) -> None:
        fired = active.any(dim=0)
        if self._fired is None:
            self._fired = fired
            self._sse, self._sx, self._sxx = err.sum(0), x.sum(0), x.pow(2).sum(0)
        else:
            self._fired = self._fired | fired
            self._sse = self._sse + err.sum(0)
            self._sx = self._sx + x.sum(0)
            self._sxx = self._sxx + x.pow(2).sum(0)
        self._n += x.shape[0]

    def sync(self, reduce_sum) -> None:
        if self._fired is None:
            return
        self._fired = reduce_sum(self._fired.float()) > 0
        self._sse, self._sx, self._sxx = (reduce_sum(t) for t in (self._sse, self._sx, self._sxx))
        self._n = int(reduce_sum(torch.tensor(float(self._n), device=self._sse.device)).item())

    def epoch_metrics(self) -> dict[str, float]:
        if self._fired is None:
            return {}
        sst = (self._sxx - self._sx.pow(2) / self._n).sum().clamp_min(1e-12)
        return {
            "dead_fraction": 1.0 - self._fired.float().mean().item(),
            "fve": (1.0 - self._sse.sum() / sst).item(),
        }
