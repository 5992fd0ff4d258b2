"""BandTokenizer: (band, value) -> token, for any band set.

A band is its centre and FWHM in nm, or its full relative response curve. Both are encoded
continuously, so a band set never seen in training lands in the same token space:
- centre and width: sin/cos Fourier features of the centre (log-spaced frequencies over the
  wavelength range) and of log(width);
- response curve: the curve's characteristic function at the same frequencies,
  E_R[sin(w l)], E_R[cos(w l)] (for a Gaussian band that is the centre's features damped by
  exp(-w^2 s^2 / 2), so it carries the width and the shape).
`use_width=False` drops every width feature: the centre-only (DOFA-style) ablation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def fourier(x: Tensor, freqs: Tensor) -> Tensor:
    """[..] x, [F] angular frequencies -> [.., 2F] sin/cos features."""
    arg = x[..., None] * freqs
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


class BandTokenizer(nn.Module):
    def __init__(
        self,
        dim: int = 64,
        num_frequencies: int = 12,
        min_wavelength_nm: float = 350.0,
        max_wavelength_nm: float = 2550.0,
        use_width: bool = True,
        use_response: bool = False,
        hidden: int = 128,
        normalize: bool = False,
    ):
        super().__init__()
        self.dim, self.use_width, self.use_response = dim, use_width, use_response
        self.normalize = normalize
        self.lo, self.span = float(min_wavelength_nm), float(max_wavelength_nm - min_wavelength_nm)
        # periods from the whole range down to ~5 nm (on the normalised scale [0, 1])
        shortest = 5.0 / self.span
        periods = torch.logspace(0, math.log10(shortest), num_frequencies)
        self.register_buffer("freqs", 2 * math.pi / periods, persistent=False)
        # log(width) from ~1 nm to ~1000 nm, normalised to [0, 1]
        self.register_buffer(
            "wfreqs", math.pi * torch.arange(1, num_frequencies // 2 + 2), persistent=False
        )
        n_pos = 2 * num_frequencies
        n_width = 2 * len(self.wfreqs)
        # value (reflectance ~0-1): geometric frequencies, periods 2 down to ~0.015
        n_value = 16
        vfreqs = math.pi * 2.0 ** torch.arange(n_value // 2, dtype=torch.float32)
        self.register_buffer("vfreqs", vfreqs, persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(n_pos + n_width + n_value + 1 + int(normalize), hidden),
            nn.GELU(),
            nn.Linear(hidden, dim),
        )

    @property
    def feature_dims(self) -> int:
        return self.mlp[0].in_features

    def band_features(
        self,
        centres: Tensor,
        fwhms: Tensor,
        response: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """[K] centres and FWHMs (nm) -> [K, n_pos + n_width] band features.

        `response` = (wavelengths [L] nm, curves [K, L]) replaces the centre/width features
        when use_response is set.
        """
        c = (centres - self.lo) / self.span
        if self.use_response and response is not None and self.use_width:
            wl, curves = response
            w = curves.clamp_min(0)
            w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
            pos = w @ fourier((wl - self.lo) / self.span, self.freqs)  # [K, 2F]
        else:
            pos = fourier(c, self.freqs)
            if self.use_width:
                # the Gaussian characteristic function: width damps the fine frequencies
                sigma = fwhms * FWHM_TO_SIGMA / self.span
                damp = torch.exp(-0.5 * (self.freqs * sigma[..., None]) ** 2)
                pos = pos * damp.repeat(1, 2)
        lw = (torch.log(fwhms.clamp_min(1.0)) / math.log(1000.0)).clamp(0, 1.5)
        width = fourier(lw, self.wfreqs)
        if not self.use_width:
            width = torch.zeros_like(width)
        return torch.cat([pos, width], dim=-1)

    def forward(self, band_feats: Tensor, values: Tensor) -> Tensor:
        """band_feats [K, Fb] or [B, K, Fb], values [B, K] -> tokens [B, K, dim].

        Non-finite values (missing readings) become 0 here; mask them as padding.
        """
        ok = torch.isfinite(values)
        v = torch.where(ok, values, torch.zeros_like(values))
        if band_feats.dim() == 2:
            band_feats = band_feats.expand(v.shape[0], *band_feats.shape)
        extra = []
        if self.normalize:
            # shape (value / mean) and brightness (log mean) apart: multiplicative changes
            # of the whole spectrum move one feature only
            mean = v.sum(-1, keepdim=True) / ok.sum(-1, keepdim=True).clamp_min(1)
            mean = mean.abs().clamp_min(1e-3)
            v = v / mean
            extra = [torch.log(mean)[..., None].expand(*v.shape, 1)]
        vf = torch.cat([v[..., None], fourier(v, self.vfreqs), *extra], dim=-1)
        return self.mlp(torch.cat([band_feats.to(v.dtype), vf], dim=-1))


def from_config(cfg) -> BandTokenizer:
    return BandTokenizer(
        dim=cfg.dim,
        num_frequencies=cfg.num_frequencies,
        min_wavelength_nm=cfg.min_wavelength_nm,
        max_wavelength_nm=cfg.max_wavelength_nm,
        use_width=cfg.use_width,
        use_response=cfg.use_response,
        hidden=cfg.hidden,
        normalize=cfg.normalize,
    )
