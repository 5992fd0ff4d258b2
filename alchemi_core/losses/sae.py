from __future__ import annotations

import torch
from pydantic import Field, NonNegativeFloat

from alchemi_core.data.batching import Batch
from alchemi_core.losses.base import Loss
from alchemi_core.registry import Params, register_loss


class SAELossParams(Params):
    sparsity_weight: NonNegativeFloat = Field(
        0.01, description="weight of the L1 penalty on latents scaled by decoder norms"
    )


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
        # Epoch column sums (plain dict: in-place adds, no nn.Module.__setattr__ per batch):
        # act (per latent, its positive parts; fired iff > 0), sse, sx, sxx; n rows.
        self._stats: dict[str, torch.Tensor] = {}
        self._n = 0

    def forward(self, out: dict, batch: Batch) -> dict[str, torch.Tensor]:
        x, x_hat, f = _f32(out["input"]), _f32(out["reconstruction"]), _f32(out["latents"])
        err = (x_hat - x).pow(2)
        mse = err.mean()
        sparsity = (f * _f32(out["decoder_norms"])).sum(dim=1).mean()
        with torch.no_grad():  # epoch statistics, accumulated in place: no graph, few ops
            pos = torch.relu(f)  # a latent fires where it is > 0 (identity on ReLU latents)
            self._accumulate(x, err, pos)
            # sign(pos) is 1 where f > 0, else 0: a float count, far cheaper than (f > 0).sum()
            l0 = torch.sign(pos).sum() / x.shape[0]
        return {
            "loss": mse + self.sparsity_weight * sparsity,
            "reconstruction_loss": mse.detach(),
            "sparsity_loss": sparsity.detach(),
            "l0": l0,
        }

    def _accumulate(self, x: torch.Tensor, err: torch.Tensor, pos: torch.Tensor) -> None:
        """Column sums. A latent fired in the epoch iff its sum of positive parts is > 0: one
        sum, where (f > 0).any(0) plus an or costs ~10x more per batch on a CPU."""
        sums = {"act": pos.sum(0), "sse": err.sum(0), "sx": x.sum(0), "sxx": (x * x).sum(0)}
        if not self._stats:
            self._stats = sums
        else:
            for k, v in sums.items():
                self._stats[k].add_(v)
        self._n += x.shape[0]

    def sync(self, reduce_sum) -> None:
        if not self._stats:
            return
        self._stats = {k: reduce_sum(v) for k, v in self._stats.items()}
        device = self._stats["sse"].device
        self._n = int(reduce_sum(torch.tensor(float(self._n), device=device)).item())

    def epoch_metrics(self) -> dict[str, float]:
        if not self._stats:
            return {}
        s = self._stats
        sst = (s["sxx"] - s["sx"].pow(2) / self._n).sum().clamp_min(1e-12)
        return {
            "dead_fraction": 1.0 - (s["act"] > 0).float().mean().item(),
            "fve": (1.0 - s["sse"].sum() / sst).item(),
        }


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()
