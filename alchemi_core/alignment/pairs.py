"""Paired lab <-> sensor data for the alignment stack, assembled once from an AlignData config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from alchemi_core.alignment import spectral
from alchemi_core.alignment.continuum import band_depths
from alchemi_core.errors import DataError


@dataclass
class SensorData:
    sensor: spectral.Sensor
    matrix: torch.Tensor  # [K, L] band weights on the full lab grid
    held_out: bool
    measured: torch.Tensor | None = None  # [N, K] measured readings, rows of the lab table

    @property
    def name(self) -> str:
        return self.sensor.name


@dataclass
class PairData:
    lab: spectral.LabLibrary
    lab_tokens_wl: np.ndarray  # [L'] the lab-tower token wavelengths (strided grid)
    lab_token_fwhm: np.ndarray  # [L']
    lab_values: torch.Tensor  # [N, L'] lab-tower values (NaN = gap) = cycle targets
    full_values: torch.Tensor  # [N, L] for simulation
    depths: torch.Tensor | None  # [N, F] band-depth targets
    train_idx: np.ndarray
    val_idx: np.ndarray
    sensors: list[SensorData] = field(default_factory=list)


def sensor_data(path: str | Path, lab_wl: np.ndarray, held_out: bool) -> SensorData:
    s = spectral.load_sensor(path)
    return SensorData(s, torch.from_numpy(spectral.band_matrix(s, lab_wl)).float(), held_out)


def load_measured(path: str, lab: spectral.LabLibrary, sd: SensorData) -> torch.Tensor:
    """A measured-pairs table: `id` (matching the lab table) and one column per band."""
    df = spectral.read_table(path, "pairs")
    missing = [c for c in ["id", *sd.sensor.bands] if c not in df.columns]
    if missing:
        raise DataError(f"missing column (bands of {sd.name})", path, missing[0])
    ids = df["id"].astype(str)
    if ids.duplicated().any():
        raise DataError(f"id {ids[ids.duplicated()].iloc[0]!r} appears twice", path, "id")
    row = {i: k for k, i in enumerate(ids)}
    absent = [i for i in lab.ids if i not in row]
    if absent:
        raise DataError(f"lab id {absent[0]!r} has no measured reading", path, "id")
    order = [row[i] for i in lab.ids]
    values = spectral.numbers(df, sd.sensor.bands, path, "reading", gaps=True)  # NaN: missing
    return torch.from_numpy(values.astype(np.float32)[order])


def load_pairs(data_cfg, features: list[tuple[float, float]] | None) -> PairData:
    lab = spectral.load_lab(data_cfg.lab_path)
    if data_cfg.max_samples and data_cfg.max_samples < len(lab.ids):
        keep = np.random.default_rng(data_cfg.split_seed).permutation(len(lab.ids))
        lab = lab.subset(np.sort(keep[: data_cfg.max_samples]))
    wl = lab.wavelengths
    stride = data_cfg.lab_stride
    step = np.gradient(wl)[::stride] * stride
    train_idx, val_idx = spectral.split(len(lab.ids), data_cfg.val_fraction, data_cfg.split_seed)
    depths = None
    if features:
        try:
            depths = torch.tensor(band_depths(wl, lab.values, features), dtype=torch.float32)
        except ValueError as exc:
            raise DataError(str(exc), data_cfg.lab_path, "banddepth.features") from None
    full = torch.from_numpy(lab.values)
    pd = PairData(
        lab, wl[::stride], step, full[:, ::stride].contiguous(), full, depths, train_idx, val_idx
    )
    names = set()
    for paths, held in ((data_cfg.sensor_paths, False), (data_cfg.eval_sensor_paths, True)):
        for p in paths:
            sd = sensor_data(p, wl, held)
            if sd.name in names:
                raise DataError(f"two sensors named {sd.name!r}", p)
            names.add(sd.name)
            pd.sensors.append(sd)
    if data_cfg.pairs_path:
        pd.sensors[0].measured = load_measured(data_cfg.pairs_path, lab, pd.sensors[0])
    return pd


def readings(
    pd: PairData, sd: SensorData, idx: torch.Tensor, noise: float, gen=None
) -> torch.Tensor:
    """Sensor readings [len(idx), K]: measured if given, else simulated (with noise)."""
    if sd.measured is not None:
        return sd.measured[idx]
    return spectral.simulate(pd.full_values[idx], sd.matrix, noise, gen).float()
