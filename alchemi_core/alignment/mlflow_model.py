"""The MLflow models of the spectral stacks (the packs that run/mlflow_model.log_model logs).

- alignment run: `SensorEmbedder`, the sensor tower on the bands of the run's first training
  sensor: readings [B, K] (one column per band, NaN = missing band) -> embedding [B, E], the
  vector `alchemi align eval` compares with the lab embeddings. The band features are computed
  once and kept in the module, so the input has a fixed shape.
- MAE run: `TokenEmbedder`, the encoder of the last checkpoint (the last masking ratio) with
  every token visible -> the mean of the encoded tokens [B, E]. On real spectra its input is a
  spectrum [B, L] on the run's wavelengths (columns named like the lab table's), which the
  run's fitted projector turns into tokens; on synthetic data, the tokens [B, N * D] themselves
  (token-major).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from alchemi_core.run.mlflow_model import frame


class SensorEmbedder(nn.Module):
    def __init__(self, model: nn.Module, band_feats: torch.Tensor, prior_args=None):
        """`prior_args`: the sensor as the model's cycle prior needs it (model.prior_args),
        for a sensor tower that also reads the prior (cycle.prior_tokens)."""
        super().__init__()
        self.model = model.eval()
        self.register_buffer("band_feats", band_feats.detach().float())
        self.prior_keys = sorted(prior_args or {})
        for k in self.prior_keys:
            self.register_buffer(f"prior_{k}", prior_args[k].detach().float())

    def forward(self, readings: torch.Tensor) -> torch.Tensor:
        args = {k: getattr(self, f"prior_{k}") for k in self.prior_keys}
        return self.model.encode_sensor(self.band_feats, readings.float(), **args)[0]


class TokenEmbedder(nn.Module):
    def __init__(self, encoder: nn.Module, num_tokens: int, token_dim: int, projector=None):
        super().__init__()
        self.encoder = encoder.eval()
        self.projector = projector
        self.num_tokens, self.token_dim = num_tokens, token_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.projector is not None:
            tokens = self.projector(x.float())
        else:
            tokens = x.float().reshape(len(x), self.num_tokens, self.token_dim)
        visible = torch.arange(self.num_tokens, device=x.device).expand(len(x), -1)
        return self.encoder(tokens, visible).mean(dim=1)


def band_columns(sensor) -> list[str]:
    """One column per band: its name and centre, e.g. "B2_560nm"."""
    return [f"{b}_{c:.0f}nm" for b, c in zip(sensor.bands, sensor.centres, strict=True)]


def alignment(checkpoint: str | Path, trainer):
    """The pack of an alignment run: SensorEmbedder of the checkpoint; a few validation
    readings of the first training sensor as the example."""
    from alchemi_core.alignment import evaluation as ev
    from alchemi_core.alignment.load import load_run

    _, model, _ = load_run(Path(checkpoint).parents[1], checkpoint=checkpoint)
    s = trainer.train_sensors[0]
    feats = ev.band_feats(model, s.sensor, torch.device("cpu"))
    example = frame(trainer.val_readings[s.name], band_columns(s.sensor))
    return SensorEmbedder(model, feats, model.prior_args(s.sensor)), example


def token_columns(num_tokens: int, token_dim: int) -> list[str]:
    return [f"t{t}_c{k}" for t in range(num_tokens) for k in range(token_dim)]


def mae(checkpoint: str | Path, cfg, data, build):
    """The pack of an MAE run: TokenEmbedder of the checkpoint's encoder (the MAE made by
    `build(cfg, runtime)`); a few held-out spectra, or tokens, of `data` (mae_data.Tokens) as
    the example."""
    from alchemi_core.alignment.load import cpu_runtime
    from alchemi_core.run import checkpoints

    model = build(cfg, cpu_runtime())
    model.load_state_dict(checkpoints.load(checkpoint)["model_state"])
    n, d = cfg.train.num_tokens, cfg.train.token_dim
    if data.projector is not None:
        names = [f"{w:g}" for w in data.wavelengths]
        return TokenEmbedder(model.encoder, n, d, data.projector), frame(data.eval_spectra, names)
    example = frame(data.eval[:8].reshape(-1, n * d), token_columns(n, d))
    return TokenEmbedder(model.encoder, n, d), example
