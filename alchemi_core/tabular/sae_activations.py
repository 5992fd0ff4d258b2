"""The SAE's activations: relu, topk, batchtopk, jumprelu. Each maps pre-activations z [B, H]
to latents f [B, H] and gives its own sparsity penalty per row (None: sparse by construction).

- relu: f = relu(z); penalty L1, sum_i f_i * ||d_i||.
- topk (Gao et al. 2024): the k largest relu(z) of each row, the rest 0.
- batchtopk (Bussmann et al. 2024): in training the k * B largest relu(z) of the batch; at
  inference a fixed threshold, a running mean of each training batch's smallest kept value,
  kept as the buffer `threshold` so extraction and prediction are per row.
- jumprelu (Rajamanoharan et al. 2024): f = z * H(z - theta), theta a learned per-latent
  threshold; penalty L0, sum_i H(z_i - theta_i). Both use straight-through pseudo-derivatives
  with a rectangle kernel of width `bandwidth` for the gradient of theta.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ReLU(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)

    def penalty(self, z, f, norms) -> torch.Tensor | None:
        return (f * norms).sum(dim=1)


class TopK(nn.Module):
    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return keep_top(torch.relu(z), self.k)

    def penalty(self, z, f, norms) -> torch.Tensor | None:
        return None


def keep_top(a: torch.Tensor, k: int) -> torch.Tensor:
    """`a` with all but each row's k largest entries set to 0 (gradient flows to the kept)."""
    if k >= a.shape[-1]:
        return a
    vals, idx = a.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(a).scatter(-1, idx, vals)


class BatchTopK(nn.Module):
    WINDOW = 100.0  # batches: a plain mean over the first ones, then an exponential average

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.register_buffer("threshold", torch.tensor(0.0))
        self.register_buffer("batches", torch.tensor(0.0))  # batches seen by the estimate

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = torch.relu(z)
        if not self.training:  # per row: a fixed threshold (per-row topk before any training)
            fixed = a * (a > self.threshold)
            return torch.where(self.batches > 0, fixed, keep_top(a, self.k))
        flat = a.flatten()
        n = min(self.k * a.shape[0], flat.numel())
        vals, idx = flat.topk(n, sorted=False)
        f = torch.zeros_like(flat).scatter(0, idx, vals).view_as(a)
        with torch.no_grad():  # no host sync: a batch with nothing kept leaves the estimate
            low = vals.detach().float().masked_fill(vals <= 0, math.inf).min()
            seen = torch.isfinite(low)
            self.batches.add_(seen.float())
            step = seen.float() / self.batches.clamp(1.0, self.WINDOW)
            self.threshold.add_(step * (torch.where(seen, low, self.threshold) - self.threshold))
        return f

    def penalty(self, z, f, norms) -> torch.Tensor | None:
        return None


def _rect(u: torch.Tensor) -> torch.Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpFn(torch.autograd.Function):
    """z * H(z - theta): d/dz = H(z - theta); d/dtheta = -(theta / eps) * rect((z - theta)/eps)."""

    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return z * (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        gz = g * (z > theta).to(z.dtype)
        gt = -(theta / ctx.eps) * _rect((z - theta) / ctx.eps) * g
        return gz, gt.sum(dim=0), None


class _StepFn(torch.autograd.Function):
    """H(z - theta): d/dz = 0; d/dtheta = -(1 / eps) * rect((z - theta) / eps)."""

    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        gt = -(1.0 / ctx.eps) * _rect((z - theta) / ctx.eps) * g
        return torch.zeros_like(z), gt.sum(dim=0), None


class JumpReLU(nn.Module):
    def __init__(self, hidden_dim: int, threshold_init: float, bandwidth: float):
        super().__init__()
        self.bandwidth = bandwidth
        self.log_threshold = nn.Parameter(torch.full((hidden_dim,), math.log(threshold_init)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _JumpFn.apply(torch.relu(z), self.log_threshold.exp(), self.bandwidth)

    def penalty(self, z, f, norms) -> torch.Tensor | None:
        return _StepFn.apply(torch.relu(z), self.log_threshold.exp(), self.bandwidth).sum(dim=1)


def build_activation(
    name: str, hidden_dim: int, k: int | None, threshold_init: float, bandwidth: float
) -> nn.Module:
    if name == "relu":
        return ReLU()
    if name == "topk":
        return TopK(k)
    if name == "batchtopk":
        return BatchTopK(k)
    return JumpReLU(hidden_dim, threshold_init, bandwidth)


def aux_topk(z: torch.Tensor, dead: torch.Tensor, aux_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """AuxK's latents: each row's `aux_k` largest relu(z) among the dead latents, others 0;
    and the term's scale, min(dead / aux_k, 1). No host sync."""
    k = min(aux_k, z.shape[1])
    masked = torch.relu(z).masked_fill(~dead, -math.inf)
    vals, idx = masked.topk(k, dim=1, sorted=False)
    vals = torch.where(torch.isfinite(vals), vals, torch.zeros_like(vals))
    scale = (dead.sum().float() / k).clamp(max=1.0)
    return torch.zeros_like(z).scatter(1, idx, vals), scale
