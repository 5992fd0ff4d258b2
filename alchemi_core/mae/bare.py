"""The speed baseline for the MAE harness: a bare PyTorch masked encoder-decoder and its loop.

Plain torch only (nn.TransformerEncoderLayer, AdamW): it calls none of alchemi's models or
losses, so the tokens/s ratio measures what our classes and harness cost. Same sizes, same
tokens, same masking as the MAE it is compared with.
"""

from __future__ import annotations

import contextlib
import statistics
import time

import torch
from torch import nn


class BareMAE(nn.Module):
    def __init__(self, token_dim, num_tokens, embed_dim, depth, heads, dec_dim, dec_depth):
        super().__init__()

        def layers(dim: int, n: int) -> nn.TransformerEncoder:
            layer = nn.TransformerEncoderLayer(
                dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True
            )
            layer.norm_first = True
            return nn.TransformerEncoder(layer, n, enable_nested_tensor=False)

        self.embed = nn.Linear(token_dim, embed_dim)
        self.pos = nn.Parameter(torch.randn(num_tokens, embed_dim) * 0.02)
        self.enc = layers(embed_dim, depth)
        self.enc_norm = nn.LayerNorm(embed_dim)
        self.proj = nn.Linear(embed_dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(dec_dim))
        self.dec_pos = nn.Parameter(torch.randn(num_tokens, dec_dim) * 0.02)
        self.dec = layers(dec_dim, dec_depth)
        self.dec_norm = nn.LayerNorm(dec_dim)
        self.head = nn.Linear(dec_dim, token_dim)

    def forward(self, tokens, visible, masked):
        d = tokens.shape[-1]
        vis = tokens.gather(1, visible[..., None].expand(-1, -1, d))
        h = self.enc_norm(self.enc(self.embed(vis) + self.pos[visible]))
        v = self.proj(h)
        b, n = tokens.shape[:2]
        x = self.mask_token.to(v.dtype).expand(b, n, -1).clone()
        x = x.scatter(1, visible[..., None].expand_as(v), v)
        y = self.dec_norm(self.dec(x + self.dec_pos))
        pred = self.head(y.gather(1, masked[..., None].expand(-1, -1, y.shape[-1])))
        target = tokens.gather(1, masked[..., None].expand(-1, -1, d))
        return ((pred.float() - target.float()) ** 2).mean()


def timed_steps(step, batches) -> float:
    """Seconds to run `step` over `batches` once."""
    t0 = time.perf_counter()
    for batch in batches:
        step(*batch)
    return time.perf_counter() - t0


def bare_step_fn(model: nn.Module, lr: float, autocast=contextlib.nullcontext):
    """One AdamW training step; the forward pass runs under `autocast()`."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)

    def step(tokens, visible, masked):
        with autocast():
            loss = model(tokens, visible, masked)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def compare(ours, bare, batches, repeats: int) -> tuple[float, float]:
    """tokens/s (every token of each sample, visible and masked, per second of training steps)
    of two step functions over the same batches: one warm-up pass each, then
    `repeats` alternating passes (so machine noise hits both alike); medians."""
    tokens = sum(b[0].shape[0] * b[0].shape[1] for b in batches)
    timed_steps(ours, batches[:1])
    timed_steps(bare, batches[:1])
    t_ours, t_bare = [], []
    for _ in range(repeats):
        t_ours.append(timed_steps(ours, batches))
        t_bare.append(timed_steps(bare, batches))
    return tokens / statistics.median(t_ours), tokens / statistics.median(t_bare)
