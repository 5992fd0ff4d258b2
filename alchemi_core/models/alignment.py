"""Lab <-> sensor alignment model: two towers over the shared set encoder.

Both towers read band tokens (BandTokenizer) of any band set. The lab tower embeds a lab
spectrum (one token per lab wavelength), the sensor tower a sensor reading (one token per band);
InfoNCE pulls a spectrum and its reading together. Optional heads read the sensor embedding:
`cycle` reconstructs the lab spectrum, `banddepth` predicts continuum-removed band depths.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alchemi_core import distributed
from alchemi_core.models.band_tokenizer import BandTokenizer, from_config
from alchemi_core.models.set_encoder import build_set_encoder


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, n_out))


def interp_bands(centres: Tensor, values: Tensor, grid: Tensor) -> Tensor:
    """Linear interpolation of readings `values` [B, K] placed at band `centres` [K] onto
    `grid` [L] (nm), per row over its finite readings; constant beyond the outer bands."""
    ok = torch.isfinite(values)
    v = torch.where(ok, values, torch.zeros_like(values))
    d = grid[None, :, None] - centres[None, None, :]  # [1, L, K]
    big = torch.finfo(d.dtype).max
    ld, li = torch.where(ok[:, None] & (d >= 0), d, big).min(-1)  # nearest band at or below
    rd, ri = torch.where(ok[:, None] & (d <= 0), -d, big).min(-1)  # nearest band at or above
    vl, vr = v.gather(1, li), v.gather(1, ri)
    has_l, has_r = ld < big, rd < big
    both = has_l & has_r
    w = torch.where(both, rd / (ld + rd).clamp_min(1e-6), has_l.to(v.dtype))
    return torch.where(has_l | has_r, w * vl + (1 - w) * vr, torch.zeros_like(vl))


class Tower(nn.Module):
    def __init__(self, dim: int, embed_dim: int, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(encoder.out_dim, embed_dim)

    def forward(self, tokens: Tensor, pad: Tensor | None) -> Tensor:
        return self.proj(self.encoder(tokens, pad))


class AlignmentModel(nn.Module):
    def __init__(
        self,
        tokenizer: BandTokenizer,
        model_cfg,
        n_lab: int,
        cycle_hidden: int | None = None,
        n_features: int = 0,
        depth_hidden: int = 128,
        temperature: float = 0.07,
        lab_wavelengths: Tensor | None = None,
    ):
        super().__init__()
        dim, m = tokenizer.dim, model_cfg

        def encoder() -> nn.Module:
            return build_set_encoder(
                dim,
                depth=m.depth,
                heads=m.heads,
                kind=m.kind,
                num_queries=m.num_queries,
                num_inducing=m.num_inducing,
                ff_mult=m.ff_mult,
                dropout=m.dropout,
            )

        self.tokenizer = tokenizer
        lab_encoder = encoder()
        sensor_encoder = lab_encoder if m.share_encoder else encoder()
        self.lab = Tower(dim, m.embed_dim, lab_encoder)
        self.sensor = Tower(dim, m.embed_dim, sensor_encoder)
        # cycle prior: the sensor readings interpolated onto these lab-token wavelengths; the
        # head then reads [embedding, prior] and predicts a residual over the prior
        self.cycle_grid = None if lab_wavelengths is None else lab_wavelengths.float()
        n_in = m.embed_dim + (n_lab if self.cycle_grid is not None else 0)
        self.cycle = _mlp(n_in, cycle_hidden, n_lab) if cycle_hidden else None
        self.depth = _mlp(m.embed_dim, depth_hidden, n_features) if n_features else None
        self.log_scale = nn.Parameter(torch.tensor(float(-torch.log(torch.tensor(temperature)))))

    def embed(self, tower: str, band_feats: Tensor, values: Tensor) -> Tensor:
        """Un-normalised embedding [B, E] of readings `values` [B, K] on bands `band_feats`."""
        pad = ~torch.isfinite(values)
        tokens = self.tokenizer(band_feats, values)
        return getattr(self, tower)(tokens, pad)

    def heads(
        self, sensor_emb: Tensor, centres: Tensor | None = None, values: Tensor | None = None
    ) -> dict[str, Tensor]:
        """`centres` [K] and `values` [B, K]: the sensor reading, for the cycle prior."""
        out = {}
        if self.cycle is not None and self.cycle_grid is None:
            out["cycle"] = self.cycle(sensor_emb)
        elif self.cycle is not None:
            if values is None:
                raise ValueError("the cycle head's interpolation prior needs the sensor reading")
            grid = self.cycle_grid.to(values.device, values.dtype)
            prior = interp_bands(centres.to(values.dtype), values, grid)
            out["cycle"] = prior + self.cycle(torch.cat([sensor_emb, prior], dim=-1))
        if self.depth is not None:
            out["depth"] = torch.sigmoid(self.depth(sensor_emb))
        return out

    def forward(self, lab_feats, lab, sensor_feats, reading, centres=None):
        """One training step's (lab embedding, sensor embedding, heads): the call DDP wraps.
        `centres` [K]: the sensor's band centres, for the cycle head's prior."""
        lab_emb = self.embed("lab", lab_feats, lab)
        sensor_emb = self.embed("sensor", sensor_feats, reading)
        return lab_emb, sensor_emb, self.heads(sensor_emb, centres, reading)

    def info_nce(self, a: Tensor, b: Tensor) -> Tensor:
        """Symmetric InfoNCE between paired rows of a and b, the mean over this rank's rows.

        Data parallel: every rank's rows are the negatives (gathered with their gradient), so
        DDP's mean over ranks is the loss of the whole global batch."""
        a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
        scale = self.log_scale.float().clamp(max=4.6).exp()
        target = torch.arange(len(a), device=a.device) + distributed.rank() * len(a)
        a_to_b = a @ distributed.all_rows(b).T * scale
        b_to_a = b @ distributed.all_rows(a).T * scale
        return 0.5 * (F.cross_entropy(a_to_b, target) + F.cross_entropy(b_to_a, target))


def build_model(cfg, lab_wavelengths) -> AlignmentModel:
    """`lab_wavelengths`: the lab-tower token wavelengths (nm) = the cycle head's grid."""
    wl = torch.as_tensor(np.asarray(lab_wavelengths, dtype=np.float32))
    prior = cfg.cycle is not None and cfg.cycle.prior == "interp"
    return AlignmentModel(
        from_config(cfg.tokenizer),
        cfg.model,
        len(wl),
        cfg.cycle.hidden if cfg.cycle else None,
        len(cfg.banddepth.features) if cfg.banddepth else 0,
        cfg.banddepth.hidden if cfg.banddepth else 128,
        cfg.trainer.temperature,
        wl if prior else None,
    )
