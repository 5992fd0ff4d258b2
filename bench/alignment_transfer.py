"""Cross-sensor transfer: earthlib's class labels (LEVEL_2, 5 classes; LEVEL_3, 26) by a linear
probe (logistic regression, alchemi_core/alignment/probe.py) on the validation spectra.

  ours     probe fitted on the model's features of the TRAINING sensors' readings of the
           training spectra (the sensor embedding and the cycle prior, the model's estimate of
           the lab spectrum from the reading and the responses: transfer.probe_features),
           scored on the same features of the held-out sensor's readings
  ours_emb the same probe on the 64-d sensor embedding alone
  oracle   (a) probe fitted and scored on the held-out sensor's own bands (its noisy readings
           of the training spectra, with their labels)
  bridge   (b) ridge from the held-out sensor's readings to the lab spectrum (fitted on the
           training spectra through that sensor), probe fitted on the lab spectra
  physics  (c) probe fitted on the training spectra simulated through the held-out sensor's
           known responses (noiseless), scored on its readings
  majority the commonest training class

All read the same test readings (one seed per noise level).
"""

from __future__ import annotations

import numpy as np
import torch

from alchemi_core.alignment import probe, spectral, transfer
from alchemi_core.alignment.load import cpu_runtime, load_run

LEVELS = ("LEVEL_2", "LEVEL_3")


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1e-4) -> np.ndarray:
    x1 = np.hstack([x, np.ones((len(x), 1))])
    reg = alpha * len(x) * np.eye(x1.shape[1])
    reg[-1, -1] = 0
    return np.linalg.solve(x1.T @ x1 + reg, x1.T @ y)


def ridge_predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))]) @ w


def _own_readings(data: transfer.TransferData, noise: float, seed: int) -> np.ndarray:
    """The held-out sensor's own noisy readings of the fitting spectra (NaN read as 0)."""
    gen = torch.Generator().manual_seed(seed + 1)
    return spectral.simulate(data.fit_values, data.matrix, noise, gen).nan_to_num().numpy()


def oracle(data: transfer.TransferData, noise: float, seed: int) -> float:
    p = probe.fit(_own_readings(data, noise, seed), data.y_fit)
    return probe.accuracy(p, data.test_readings, data.y_test)


def bridge(data: transfer.TransferData, noise: float, seed: int) -> float:
    lab = data.fit_values.nan_to_num().numpy()
    w = ridge_fit(_own_readings(data, noise, seed), lab)
    p = probe.fit(lab, data.y_fit)
    return probe.accuracy(p, ridge_predict(w, data.test_readings.nan_to_num().numpy()), data.y_test)


def measure(run_dir, lab, split, train_paths, held_paths, noises, seed=1234, levels=LEVELS):
    """One row per held-out sensor, label level and noise: ours and the baselines (accuracy)."""
    _, model, _ = load_run(run_dir)
    rt = cpu_runtime(seed)
    train_sensors = [spectral.load_sensor(p) for p in train_paths]
    rows = []
    for noise in noises:
        fit_x = None  # the training sensors' readings: the same for every case at this noise
        for level in levels:
            labels = lab.label(level, "lab table", "labels")
            probes = None  # fitted on the training sensors only: the same for every target
            for path in held_paths:
                sensor = spectral.load_sensor(path)
                data = transfer.transfer_data(
                    lab, labels, split, train_sensors, sensor, noise, seed
                )
                if fit_x is None:
                    fit_x = transfer.fit_features(model, data, rt)
                if probes is None:
                    probes = transfer.fit_probes(model, data, rt, fit_x)
                ours = transfer.transfer(model, data, rt, probes)
                rows.append({
                    "sensor": sensor.name, "labels": level, "noise": f"{noise:.0%}",
                    "ours": ours["transfer_accuracy"],
                    "ours_emb": ours["embedding_transfer_accuracy"],
                    "oracle": oracle(data, noise, seed), "bridge": bridge(data, noise, seed),
                    "physics": ours["physics_transfer_accuracy"],
                    "majority": ours["majority_accuracy"],
                })  # fmt: skip
    return rows


def goals(rows: list[dict]) -> dict:
    """Per held-out sensor, over label levels and noise: the worst margin over the bridge
    (goal >= 0) and the worst gap to the physics route (goal <= 0.05)."""
    out = {}
    for name in dict.fromkeys(r["sensor"] for r in rows):
        mine = [r for r in rows if r["sensor"] == name]
        out[name] = {
            "ours_minus_bridge_worst": min(r["ours"] - r["bridge"] for r in mine),
            "physics_minus_ours_worst": max(r["physics"] - r["ours"] for r in mine),
        }
    return out
