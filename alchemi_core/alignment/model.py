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
from alchemi_core.alignment import gaussian_prior, spectral
from alchemi_core.alignment.band_tokenizer import BandTokenizer, from_config
from alchemi_core.nn.set_encoder import build_set_encoder

NOMINAL_FWHM_NM = 30.0  # the centre-only model's band width for the Gaussian prior


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
        cycle_wavelengths: Tensor | None = None,
        prior: str = "none",
        prior_noise: float = 0.0,
        prior_tokens: bool = False,
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
        # the cycle head predicts the lab spectrum on `cycle_grid`; with a prior it reads
        # [embedding, prior] and predicts a residual over the prior (see `prior`)
        self.prior_kind = prior
        self.prior_noise = prior_noise
        grid = lab_wavelengths if cycle_wavelengths is None else cycle_wavelengths
        self.register_buffer("cycle_grid", torch.as_tensor(grid, dtype=torch.float32), False)
        n_cycle = len(self.cycle_grid)
        if prior == "gaussian":  # fitted on the training spectra (fit_prior); saved with the model
            self.register_buffer("prior_mu", torch.zeros(n_cycle))
            self.register_buffer("prior_cov", torch.zeros(n_cycle, n_cycle))
        self.prior_tokens = prior_tokens
        if prior_tokens:  # the prior at the lab-token wavelengths: extra sensor-tower tokens
            wl = torch.as_tensor(lab_wavelengths, dtype=torch.float32)
            idx = (wl[:, None] - self.cycle_grid[None, :]).abs().argmin(1)
            width = torch.from_numpy(np.gradient(wl.numpy())).float()
            self.register_buffer("token_idx", idx, persistent=False)
            self.register_buffer("token_wl", torch.stack([wl, width]), persistent=False)
            self.prior_type = nn.Parameter(torch.zeros(dim))  # marks a token as the prior's
        n_in = m.embed_dim + (n_cycle if prior != "none" else 0)
        self.cycle = _mlp(n_in, cycle_hidden, n_cycle) if cycle_hidden else None
        self.depth = _mlp(m.embed_dim, depth_hidden, n_features) if n_features else None
        self.log_scale = nn.Parameter(torch.tensor(float(-torch.log(torch.tensor(temperature)))))

    def fit_prior(self, values: Tensor) -> None:
        """The Gaussian prior's mean and covariance from training spectra [N, len(cycle_grid)]."""
        if self.prior_kind == "gaussian":
            mu, cov = gaussian_prior.fit(values)
            self.prior_mu.copy_(mu)
            self.prior_cov.copy_(cov)

    def prior_args(self, sensor: spectral.Sensor) -> dict[str, Tensor]:
        """What `prior` needs of a sensor: its band centres (interp) or its band matrix on the
        cycle grid (gaussian; without widths, a nominal width, for the centre-only ablation)."""
        if self.prior_kind == "interp":
            return {"centres": torch.as_tensor(sensor.centres, dtype=torch.float32)}
        if self.prior_kind != "gaussian":
            return {}
        if not self.tokenizer.use_width:
            fwhm = np.full(len(sensor.centres), NOMINAL_FWHM_NM)
            sensor = spectral.make_sensor(sensor.name, sensor.bands, sensor.centres, fwhm)
        grid = self.cycle_grid.cpu().double().numpy()
        return {"matrix": torch.from_numpy(spectral.band_matrix(sensor, grid)).float()}

    def prior(self, values: Tensor, centres=None, matrix=None) -> Tensor | None:
        """The cycle prior [B, len(cycle_grid)] of readings `values` [B, K], or None."""
        if self.prior_kind == "none":
            return None
        if centres is None and matrix is None:
            raise ValueError(f"the {self.prior_kind} prior needs the sensor (prior_args)")
        with torch.no_grad():
            if self.prior_kind == "interp":
                grid = self.cycle_grid.to(values.dtype)
                return interp_bands(centres.to(values.device, values.dtype), values, grid)
            with torch.autocast(values.device.type, enabled=False):
                m = matrix.to(values.device)
                out = gaussian_prior.conditional_mean(
                    values, m, self.prior_mu, self.prior_cov, self.prior_noise
                )
        return out.to(values.dtype)

    def embed(self, tower: str, band_feats: Tensor, values: Tensor, prior=None) -> Tensor:
        """Un-normalised embedding [B, E] of readings `values` [B, K] on bands `band_feats`;
        the sensor tower also reads `prior` at the lab-token wavelengths if prior_tokens."""
        pad = ~torch.isfinite(values)
        tokens = self.tokenizer(band_feats, values)
        if tower == "sensor" and self.prior_tokens:
            if prior is None:
                raise ValueError("the sensor tower's prior tokens need the sensor (prior_args)")
            feats = self.tokenizer.band_features(self.token_wl[0], self.token_wl[1])
            extra = self.tokenizer(feats.to(values.dtype), prior[:, self.token_idx])
            tokens = torch.cat([tokens, extra + self.prior_type.to(extra.dtype)], dim=1)
            pad = torch.cat([pad, torch.zeros_like(pad[:, :1]).expand(-1, extra.shape[1])], 1)
        return getattr(self, tower)(tokens, pad)

    def heads(self, sensor_emb: Tensor, prior: Tensor | None = None) -> dict[str, Tensor]:
        out = {}
        if self.cycle is not None and self.prior_kind == "none":
            out["cycle"] = self.cycle(sensor_emb)
        elif self.cycle is not None:
            if prior is None:
                raise ValueError("the cycle head's prior needs the sensor reading")
            prior = prior.to(sensor_emb.dtype)
            out["cycle"] = prior + self.cycle(torch.cat([sensor_emb, prior], dim=-1))
        if self.depth is not None:
            out["depth"] = torch.sigmoid(self.depth(sensor_emb))
        return out

    def encode_sensor(self, feats, values, centres=None, matrix=None) -> tuple[Tensor, dict]:
        """The sensor embedding [B, E] and heads of readings `values` [B, K]; `centres` or
        `matrix`: the sensor for the cycle prior (`prior_args`)."""
        prior = self.prior(values, centres, matrix)
        emb = self.embed("sensor", feats, values, prior)
        return emb, self.heads(emb, prior)

    def forward(self, lab_feats, lab, sensor_feats, reading, centres=None, matrix=None):
        """One training step's (lab embedding, sensor embedding, heads): the call DDP wraps."""
        lab_emb = self.embed("lab", lab_feats, lab)
        return lab_emb, *self.encode_sensor(sensor_feats, reading, centres, matrix)

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


def alignment_model(cfg, lab_wavelengths, cycle_wavelengths=None) -> AlignmentModel:
    """`lab_wavelengths`: the lab-tower token wavelengths (nm); `cycle_wavelengths`: the cycle
    head's grid (the full lab grid; None: the token grid, as in runs before it was saved)."""
    wl = torch.as_tensor(np.asarray(lab_wavelengths, dtype=np.float32))
    grid = None if cycle_wavelengths is None else np.asarray(cycle_wavelengths, np.float32)
    c = cfg.cycle
    return AlignmentModel(
        from_config(cfg.tokenizer),
        cfg.model,
        len(wl),
        c.hidden if c else None,
        len(cfg.banddepth.features) if cfg.banddepth else 0,
        cfg.banddepth.hidden if cfg.banddepth else 128,
        cfg.trainer.temperature,
        wl,
        None if grid is None else torch.from_numpy(grid),
        c.prior if c else "none",
        cfg.data.noise,
        bool(c and c.prior_tokens),
    )
