"""Every retrieval and reconstruction metric of the spectral stacks, in one place.

Retrieval: query i's true match is key i. A score matrix [Q, K] (higher = closer) gives each
query the rank of its match (1 = best; ties count against it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def cosine_scores(queries: Tensor, keys: Tensor) -> Tensor:
    q = torch.nn.functional.normalize(queries.double(), dim=-1)
    k = torch.nn.functional.normalize(keys.double(), dim=-1)
    return q @ k.T


def neg_l2_scores(queries: Tensor, keys: Tensor) -> Tensor:
    """Minus the squared euclidean distance (NaNs in either side count as 0)."""
    q = torch.nan_to_num(queries.double())
    k = torch.nan_to_num(keys.double())
    return -torch.cdist(q, k).pow(2)


def fused_scores(*scores: Tensor) -> Tensor:
    """Sum of score matrices, each standardised per query row (mean 0, std 1)."""
    z = [(s - s.mean(1, keepdim=True)) / s.std(1, keepdim=True).clamp_min(1e-12) for s in scores]
    return torch.stack(z).sum(0)


def ranks(scores: Tensor) -> Tensor:
    """[Q] rank of the true key (the diagonal) of each query."""
    true = scores.diagonal()[:, None]
    return (scores >= true).sum(dim=1)


def retrieval_metrics(scores: Tensor, k: int = 5) -> dict[str, float]:
    r = ranks(scores).double()
    return {
        "top1": float((r == 1).double().mean()),
        f"recall_at_{k}": float((r <= k).double().mean()),
        "mean_rank": float(r.mean()),
        "n": int(r.numel()),
    }


def rmse(pred: Tensor, target: Tensor) -> float:
    """Over the finite entries of target."""
    ok = torch.isfinite(target)
    diff = (pred.double() - torch.nan_to_num(target.double()))[ok]
    return float(diff.pow(2).mean().sqrt()) if diff.numel() else math.nan


def sam_deg(pred: Tensor, target: Tensor) -> float:
    """Mean spectral angle in degrees, each spectrum over its finite entries."""
    ok = torch.isfinite(target)
    p = torch.where(ok, pred.double(), 0.0)
    t = torch.where(ok, target.double(), 0.0)
    cos = (p * t).sum(-1) / (p.norm(dim=-1) * t.norm(dim=-1)).clamp_min(1e-12)
    return float(torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))).mean())


def mean_abs_error(pred: Tensor, target: Tensor) -> float:
    return float((pred.double() - target.double()).abs().mean())


def known_response_scores(readings: Tensor, clean: Tensor) -> Tensor:
    """The physics limit's scores: noisy sensor readings [Q, K] against every lab spectrum
    simulated through the same sensor's known responses, noiseless [N, K] (minus the squared
    L2 distance; a band missing on either side counts as 0)."""
    return neg_l2_scores(readings, clean)


def rerank(scores: Tensor, physics: Tensor, candidates: int) -> Tensor:
    """Each query's `candidates` best keys by `scores`, re-ordered by `physics` and placed
    above every other key (which keep their order): the model proposes, the physics decides."""
    k = min(candidates, scores.shape[1])
    top = scores.double().topk(k, dim=1).indices
    order = physics.double().gather(1, top).argsort(dim=1, descending=True).argsort(dim=1)
    out = scores.double().clone()
    lift = out.max() - out.min() + 1.0
    return out.scatter(1, top, out.max() + lift + (k - order).double())
