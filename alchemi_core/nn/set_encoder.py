"""The set encoder both spectral stacks share: permutation-equivariant token blocks, then a
permutation-invariant pool, with key padding masks everywhere.

kind "attention": SAB blocks (pre-norm self-attention + feed-forward), then attention pooling
from learned queries (Panopticon-style).
kind "isab_pma": ISAB blocks (attention through learned inducing points, Lee et al. 2019), then
PMA (a row-wise feed-forward, then attention from learned seed vectors).

`pad_mask` is bool [B, N], True = padding. Padding tokens are zeroed on the way in and out, so
their values never matter. A row with every token masked pools to zeros (defined, never NaN):
attention in such a row runs unmasked over zeroed tokens and its result is then discarded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KINDS = ("attention", "isab_pma")


def _feed_forward(dim: int, ff_mult: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(dim, dim * ff_mult),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(dim * ff_mult, dim),
    )


class Attention(nn.Module):
    """Multi-head attention of queries [B,M,D] over keys [B,N,D] with a key padding mask."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, ctx: Tensor, key_pad: Tensor | None) -> Tensor:
        b, m, d = x.shape
        n, h = ctx.shape[1], self.heads
        q = self.q(x).view(b, m, h, d // h).transpose(1, 2)
        k, v = self.kv(ctx).view(b, n, 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None
        if key_pad is not None:
            # Fully masked rows attend to everything (zeroed tokens): no softmax over nothing.
            empty = key_pad.all(dim=1, keepdim=True)
            mask = (~(key_pad & ~empty))[:, None, None, :]  # True = attend
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, m, d))


class MAB(nn.Module):
    """Pre-norm multihead attention block: x + Attn(LN x, LN ctx), then + FF(LN x)."""

    def __init__(self, dim: int, heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = (nn.LayerNorm(dim) for _ in range(3))
        self.attn = Attention(dim, heads, dropout)
        self.ff = _feed_forward(dim, ff_mult, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, ctx: Tensor, key_pad: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm_q(x), self.norm_kv(ctx), key_pad))
        return x + self.drop(self.ff(self.norm_ff(x)))


class SAB(nn.Module):
    def __init__(self, dim: int, heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.mab = MAB(dim, heads, ff_mult, dropout)

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        return self.mab(x, x, pad)


class ISAB(nn.Module):
    """Inducing points summarise the (unpadded) set; every token then attends to them."""

    def __init__(self, dim: int, heads: int, ff_mult: int, dropout: float, num_inducing: int):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(num_inducing, dim) * dim**-0.5)
        self.summarise = MAB(dim, heads, ff_mult, dropout)
        self.broadcast = MAB(dim, heads, ff_mult, dropout)

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        ind = self.inducing.unsqueeze(0).expand(x.shape[0], -1, -1)
        summary = self.summarise(ind, x, pad)
        return self.broadcast(x, summary)


class SetEncoder(nn.Module):
    """encode_tokens: [B,N,dim] -> [B,N,dim] (equivariant); pool: -> [B, num_queries*dim]."""

    def __init__(
        self,
        dim: int,
        depth: int = 2,
        heads: int = 4,
        kind: str = "attention",
        num_queries: int = 1,
        num_inducing: int = 16,
        ff_mult: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
        for name, value in (("dim", dim), ("heads", heads), ("num_queries", num_queries)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.dim, self.kind, self.out_dim = dim, kind, num_queries * dim
        if kind == "attention":
            self.blocks = nn.ModuleList(SAB(dim, heads, ff_mult, dropout) for _ in range(depth))
            self.pre_pool = nn.Identity()
        else:
            self.blocks = nn.ModuleList(
                ISAB(dim, heads, ff_mult, dropout, num_inducing) for _ in range(depth)
            )
            self.pre_pool = _feed_forward(dim, ff_mult, dropout)  # PMA's row-wise rFF
        self.norm = nn.LayerNorm(dim)
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * dim**-0.5)
        self.pool_block = MAB(dim, heads, ff_mult, dropout)
        self.pool_norm = nn.LayerNorm(dim)

    @staticmethod
    def _zero_pad(x: Tensor, pad: Tensor | None) -> Tensor:
        return x if pad is None else x.masked_fill(pad.unsqueeze(-1), 0.0)

    def encode_tokens(self, tokens: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        h = self._zero_pad(tokens, pad_mask)
        for block in self.blocks:
            h = self._zero_pad(block(h, pad_mask), pad_mask)
        return self._zero_pad(self.norm(h), pad_mask)

    def pool(self, h: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        keys = self._zero_pad(self.pre_pool(self._zero_pad(h, pad_mask)), pad_mask)
        q = self.queries.unsqueeze(0).expand(h.shape[0], -1, -1).to(keys.dtype)
        out = self.pool_norm(self.pool_block(q, keys, pad_mask)).flatten(1)
        if pad_mask is not None:
            out = out.masked_fill(pad_mask.all(dim=1, keepdim=True), 0.0)
        return out

    def forward(self, tokens: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        return self.pool(self.encode_tokens(tokens, pad_mask), pad_mask)


def build_set_encoder(dim: int, **options) -> SetEncoder:
    """The one factory both spectral stacks (alignment towers, MAE) call. Options, by keyword:
    depth, heads, kind ("attention" or "isab_pma"), num_queries, num_inducing, ff_mult, dropout."""
    return SetEncoder(dim, **options)
