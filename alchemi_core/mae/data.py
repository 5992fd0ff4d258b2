"""Tokens for the MAE harness, and the per-step batches (a pure function of seed and step, so a
resumed run sees exactly the batches and masks the uninterrupted one would have)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from alchemi_core.errors import ConfigError
from alchemi_core.mae.config import TrainCfg
from alchemi_core.mae.model import SpectralBasisProjector, split_mask
from alchemi_core.mae.spectra import load_spectra

EVAL_FRACTION = 0.1


@dataclass
class Tokens:
    train: torch.Tensor  # [S, num_tokens, token_dim]
    eval: torch.Tensor
    info: dict = field(default_factory=dict)
    # real spectra: the projector that made the tokens, its wavelengths (nm) and the held-out
    # spectra (the MLflow model takes spectra: mlflow_spectral.py)
    projector: SpectralBasisProjector | None = None
    wavelengths: np.ndarray | None = None
    eval_spectra: torch.Tensor | None = None


def load_tokens(tc: TrainCfg, seed: int, source: str) -> Tokens:
    """Synthetic random tokens, or real spectra projected by a SpectralBasisProjector fitted on
    the training split only."""
    g = torch.Generator().manual_seed(seed)
    if tc.data == "synthetic":
        n_eval = max(tc.batch_size, int(tc.num_samples * EVAL_FRACTION))
        pool = torch.randn(tc.num_samples + n_eval, tc.num_tokens, tc.token_dim, generator=g)
        info = {"source": "synthetic", "samples": tc.num_samples, "eval_samples": n_eval}
        return Tokens(pool[: tc.num_samples], pool[tc.num_samples :], info)
    waves, spectra = load_spectra(tc.data, source, "train.data")
    x = torch.from_numpy(spectra)
    order = torch.randperm(len(x), generator=g)
    n_eval = max(1, int(len(x) * EVAL_FRACTION))
    train, held = x[order[n_eval:]], x[order[:n_eval]]
    try:
        proj = SpectralBasisProjector(x.shape[1], tc.num_tokens, tc.token_dim, tc.basis)
    except ValueError as exc:
        raise ConfigError(str(exc), source, "train.token_dim") from None
    proj.fit(train)
    with torch.no_grad():
        tokens_train, tokens_eval = proj(train), proj(held)
        recon = proj.inverse(tokens_eval)
    info = {
        "source": tc.data,
        "spectra": len(x),
        "bands": int(x.shape[1]),
        "wavelength_nm": [float(waves[0]), float(waves[-1])],
        "basis": tc.basis,
        # how much of a spectrum the tokens keep: the ceiling on what the MAE can reconstruct
        "basis_rmse": float(((recon - held) ** 2).mean().sqrt()),
    }
    return Tokens(tokens_train, tokens_eval, info, proj.eval(), waves, held)


def step_generator(seed: int, ratio_index: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + ratio_index * 100_003 + step)


def make_batch(pool: torch.Tensor, batch_size: int, ratio: float, g: torch.Generator):
    """(tokens [B,N,D], visible index, masked index), sampled with `g`, on pool's device."""
    idx = torch.randint(len(pool), (batch_size,), generator=g)
    visible, masked = split_mask(batch_size, pool.shape[1], ratio, g)
    dev = pool.device
    return pool[idx.to(dev)], visible.to(dev), masked.to(dev)
