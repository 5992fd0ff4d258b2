"""The baselines, written in plain torch the way a user writes them by hand.

Nothing here imports alchemi: own layers (nn.Linear + SiLU), own loss code, tensors in memory,
a shuffled index per epoch, Adam. The architectures match alchemi's VAE and SAE layer for layer
so the only difference a ratio can see is the framework around them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers)


class PlainVAE(nn.Module):
    """Numerical columns plus embedded categoricals in, reconstructions and logits out."""

    def __init__(self, n_num: int, cards: list[int], hidden: list[int], latent: int):
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(k, min(16, max(2, (k + 1) // 2))) for k in cards)
        width = n_num + sum(e.embedding_dim for e in self.embeds)
        self.encoder = mlp([width, *hidden])
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)
        self.decoder = mlp([latent, *reversed(hidden)])
        self.num_head = nn.Linear(hidden[0], n_num)
        self.cat_heads = nn.ModuleList(nn.Linear(hidden[0], k) for k in cards)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if c is not None:
            x = torch.cat([x, *(e(c[:, i]) for i, e in enumerate(self.embeds))], 1)
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x, c=None):
        mu, logvar = self.encode(x, c)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        h = self.decoder(z)
        return self.num_head(h), [head(h) for head in self.cat_heads], mu, logvar


def vae_loss(out, x, c, beta: float = 1.0) -> torch.Tensor:
    x_hat, logits, mu, logvar = out
    loss = (x_hat - x).pow(2).sum(1).mean()
    loss = loss + beta * (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    for i, lg in enumerate(logits):
        loss = loss + F.cross_entropy(lg, c[:, i])
    return loss


class PlainSAE(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.b_dec = nn.Parameter(torch.zeros(d))
        self.encoder = nn.Linear(d, hidden)
        w = torch.randn(hidden, d)
        self.W_dec = nn.Parameter(w / w.norm(dim=1, keepdim=True))

    def forward(self, x):
        f = torch.relu(self.encoder(x - self.b_dec))
        return f, f @ self.W_dec + self.b_dec


def train_vae(model, x, c, epochs: int, batch_size: int, lr: float, beta: float, seed: int = 0):
    """The hand loop: returns the last epoch's mean loss (read once per epoch)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n, mean = x.shape[0], float("nan")
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        total = torch.zeros(())
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            xb, cb = x[idx], (c[idx] if c is not None else None)
            loss = vae_loss(model(xb, cb), xb, cb, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        mean = total.item() / n
    return mean


def train_sae(model, x, epochs: int, batch_size: int, lr: float, sparsity: float, seed: int = 0):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n, mean = x.shape[0], float("nan")
    with torch.no_grad():
        model.b_dec.copy_(x[:batch_size].mean(0))
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        total = torch.zeros(())
        for i in range(0, n, batch_size):
            xb = x[perm[i : i + batch_size]]
            f, x_hat = model(xb)
            loss = (x_hat - xb).pow(2).mean()
            loss = loss + sparsity * (f * model.W_dec.norm(dim=1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * xb.shape[0]
        mean = total.item() / n
    return mean


@torch.inference_mode()
def encode_all(model: PlainVAE, x, c, batch_size: int) -> torch.Tensor:
    """The bare extraction loop: encoder means of every row, in order, into one tensor."""
    model.eval()
    out = torch.empty(x.shape[0], model.mu.out_features)
    for i in range(0, x.shape[0], batch_size):
        out[i : i + batch_size] = model.encode(
            x[i : i + batch_size], c[i : i + batch_size] if c is not None else None
        )[0]
    return out
