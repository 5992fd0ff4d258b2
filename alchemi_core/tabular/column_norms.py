"""Each column's trivial loss, from the train split: what `balance: columns` divides by.

The trivial predictor of a numerical (or embedding) dimension is its train mean, whose squared
error is the column's variance (1 once standardised). That of a categorical column is its
train frequencies, whose cross-entropy is the column's marginal entropy in nats. Dividing by
them puts every column on the same footing: the trivial predictor scores 1 on each.
"""

from __future__ import annotations

import torch

FLOOR = 1e-2  # a (near-)constant column is divided by this, not by ~0
SAMPLE_ROWS = 1 << 20  # the statistics of a larger split come from its first 1M rows


def column_norms(tensors: dict[str, torch.Tensor], cards: list[int]) -> dict[str, list[float]]:
    """{group: per-column trivial loss} for the groups present (float lists, for checkpoints)."""
    out: dict[str, list[float]] = {}
    for group in ("numerical", "embeddings"):
        x = tensors.get(group)
        if x is not None and x.numel():
            var = x[:SAMPLE_ROWS].double().var(dim=0, unbiased=False)
            out[group] = var.clamp(min=FLOOR).tolist()
    codes = tensors.get("categorical")
    if codes is not None and codes.numel():
        codes = codes[:SAMPLE_ROWS]
        ent = []
        for i, k in enumerate(cards):
            p = torch.bincount(codes[:, i], minlength=k).double() / len(codes)
            p = p[p > 0]
            ent.append(max(float(-(p * p.log()).sum()), FLOOR))
        out["categorical"] = ent
    return out


def loader_norms(loader, cards: list[int]) -> dict[str, list[float]]:
    """column_norms of a loader's rows (its tensors, or its first rows when it has none)."""
    tensors = getattr(loader, "tensors", None) or loader.take(
        slice(0, min(loader.num_rows, SAMPLE_ROWS))
    )
    return column_norms(tensors, cards)
