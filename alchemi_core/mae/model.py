"""Masked autoencoder over spectral tokens (He et al. 2022, on spectra).

spectra -> SpectralBasisProjector -> tokens -> MAEEncoder (visible tokens only) -> MAEDecoder
(every position: encoded visible tokens + a learned mask token at the masked ones) -> predicted
masked tokens. The loss is the mean squared error on the masked tokens only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from alchemi_core.nn.set_encoder import build_set_encoder


def window_bounds(length: int, num_tokens: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal windows covering `length` values."""
    edges = [round(i * length / num_tokens) for i in range(num_tokens + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


class SpectralBasisProjector(nn.Module):
    """A spectrum [B, L] -> tokens [B, num_tokens, token_dim]: the spectrum is cut into
    `num_tokens` contiguous wavelength windows, and each window is projected onto `token_dim`
    basis vectors: a fixed orthonormal cosine (DCT-II) basis, or the window's principal
    components fitted on training spectra (`fit`). `inverse` maps tokens back to spectra."""

    def __init__(self, length: int, num_tokens: int, token_dim: int, basis: str = "pca"):
        super().__init__()
        bounds = window_bounds(length, num_tokens)
        widest, narrowest = max(b - a for a, b in bounds), min(b - a for a, b in bounds)
        if token_dim > narrowest:
            raise ValueError(
                f"token_dim {token_dim} is more than the narrowest window ({narrowest} values "
                f"of {length} split into {num_tokens} tokens)"
            )
        self.length, self.kind = length, basis
        index = torch.zeros(num_tokens, widest, dtype=torch.long)
        valid = torch.zeros(num_tokens, widest, dtype=torch.bool)
        basis_t = torch.zeros(num_tokens, token_dim, widest)
        for t, (a, b) in enumerate(bounds):
            n = b - a
            index[t, :n] = torch.arange(a, b)
            valid[t, :n] = True
            k = torch.arange(token_dim, dtype=torch.float64)[:, None]
            x = (torch.arange(n, dtype=torch.float64)[None, :] + 0.5) * math.pi / n
            dct = torch.cos(k * x) * math.sqrt(2.0 / n)
            dct[0] /= math.sqrt(2.0)
            basis_t[t, :, :n] = dct.float()
        self.register_buffer("index", index)
        self.register_buffer("valid", valid)
        self.register_buffer("basis", basis_t)  # [T, token_dim, widest], rows orthonormal
        self.register_buffer("mean", torch.zeros(num_tokens, widest))
        self.register_buffer("scale", torch.ones(num_tokens, token_dim))

    def _windows(self, spectra: Tensor) -> Tensor:
        w = spectra[:, self.index]  # [B, T, widest]
        return w.masked_fill(~self.valid, 0.0)

    @torch.no_grad()
    def fit(self, spectra: Tensor) -> SpectralBasisProjector:
        """Window means, PCA directions (when basis is "pca") and per-coefficient scales."""
        w = self._windows(spectra.to(self.basis.dtype))
        self.mean.copy_(w.mean(dim=0))
        centred = w - self.mean
        if self.kind == "pca":
            k = self.basis.shape[1]
            for t in range(centred.shape[1]):
                n = int(self.valid[t].sum())
                _, _, vh = torch.linalg.svd(centred[:, t, :n].double(), full_matrices=False)
                self.basis[t].zero_()
                self.basis[t, : min(k, vh.shape[0]), :n] = vh[:k].float()
        coef = torch.einsum("btw,tkw->btk", centred, self.basis)
        self.scale.copy_(coef.std(dim=0).clamp_min(1e-6))
        return self

    def forward(self, spectra: Tensor) -> Tensor:
        centred = self._windows(spectra) - self.mean
        return torch.einsum("btw,tkw->btk", centred, self.basis) / self.scale

    def inverse(self, tokens: Tensor) -> Tensor:
        w = torch.einsum("btk,tkw->btw", tokens * self.scale, self.basis) + self.mean
        out = tokens.new_zeros(tokens.shape[0], self.length)
        out[:, self.index[self.valid]] = w[:, self.valid]
        return out


def split_mask(batch: int, num_tokens: int, ratio: float, generator: torch.Generator):
    """Random per-sample split: (visible index [B, keep], masked index [B, N - keep])."""
    keep = round(num_tokens * (1 - ratio))
    order = torch.rand(batch, num_tokens, generator=generator).argsort(dim=1)
    return order[:, :keep], order[:, keep:]


def gather(x: Tensor, idx: Tensor) -> Tensor:
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class MAEEncoder(nn.Module):
    """Embeds tokens plus their position and encodes the visible ones only (build_set_encoder's
    encode_tokens: the masked tokens never enter the encoder)."""

    def __init__(self, token_dim: int, num_tokens: int, dim: int, depth: int, heads: int, kind):
        super().__init__()
        self.embed = nn.Linear(token_dim, dim)
        self.pos = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.encoder = build_set_encoder(dim, depth=depth, heads=heads, kind=kind)  # no pooling

    def forward(self, tokens: Tensor, visible: Tensor) -> Tensor:
        x = self.embed(gather(tokens, visible)) + self.pos[visible]
        return self.encoder.encode_tokens(x)


class MAEDecoder(nn.Module):
    """A narrower transformer over all positions (visible codes + mask tokens, each with its
    position) that predicts the masked tokens."""

    def __init__(self, enc_dim: int, num_tokens: int, token_dim: int, dim: int, depth: int, heads):
        super().__init__()
        self.proj = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.pos = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        # only encode_tokens is used: the pooling parameters get no gradient (AdamW skips them)
        self.blocks = build_set_encoder(dim, depth=depth, heads=heads, kind="attention")
        self.head = nn.Linear(dim, token_dim)

    def forward(self, codes: Tensor, visible: Tensor, masked: Tensor) -> Tensor:
        b, n = visible.shape[0], visible.shape[1] + masked.shape[1]
        x = self.mask_token.to(codes.dtype).expand(b, n, -1).clone()
        v = self.proj(codes)
        x = x.to(v.dtype).scatter(1, visible.unsqueeze(-1).expand_as(v), v)
        h = self.blocks.encode_tokens(x + self.pos)
        return self.head(gather(h, masked))


class MAE(nn.Module):
    def __init__(self, token_dim, num_tokens, embed_dim, depth, heads, kind, dec_dim, dec_depth):
        super().__init__()
        self.encoder = MAEEncoder(token_dim, num_tokens, embed_dim, depth, heads, kind)
        self.decoder = MAEDecoder(embed_dim, num_tokens, token_dim, dec_dim, dec_depth, heads)

    def forward(self, tokens: Tensor, visible: Tensor, masked: Tensor) -> Tensor:
        """Mean squared error on the masked tokens."""
        pred = self.decoder(self.encoder(tokens, visible), visible, masked)
        return ((pred.float() - gather(tokens, masked).float()) ** 2).mean()
