"""What an alignment model is worth next to the physics limit: the known-response nearest
neighbour, the model's candidates re-ranked by the known responses, and a linear probe's
transfer of class labels from the training sensors' embeddings to another sensor's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from alchemi_core.alignment import evaluation as ev
from alchemi_core.alignment import probe, retrieval, spectral


def sensor_matrix(sensor: spectral.Sensor, lab_wl: np.ndarray) -> Tensor:
    return torch.from_numpy(spectral.band_matrix(sensor, lab_wl)).float()


def physics(readings: Tensor, values: Tensor, matrix: Tensor) -> Tensor:
    """The known-response scores [Q, N] of noisy `readings` against every lab spectrum of
    `values` [N, L] simulated through the sensor's band `matrix`, noiseless."""
    clean = spectral.simulate(values, matrix, 0.0)
    return retrieval.known_response_scores(readings, clean)


def sensor_space_scores(model, sensor, readings: Tensor, values: Tensor, matrix: Tensor, rt):
    """The model's scores within its sensor tower, each [Q, N]: `cosine`, the embedding of each
    reading against the embeddings of every lab spectrum of `values` simulated through the
    sensor's known responses `matrix`, noiseless; with a cycle head, `fused`: that cosine
    fused (retrieval.fused_scores) with minus the squared L2 between the cycle head's lab
    spectrum of the reading and of each simulated reading. Both sides go through the same
    tower and heads; no distance between band values is used."""
    clean = spectral.simulate(values, matrix, 0.0).float()
    feats = ev.band_feats(model, sensor, rt.device)
    q, q_heads = ev.embed(model, "sensor", feats, readings, rt, sensor=sensor)
    k, k_heads = ev.embed(model, "sensor", feats, clean, rt, sensor=sensor)
    out = {"cosine": retrieval.cosine_scores(q, k)}
    if "cycle" in q_heads:
        l2 = retrieval.neg_l2_scores(q_heads["cycle"], k_heads["cycle"])
        out["fused"] = retrieval.fused_scores(out["cosine"], l2)
    return out


def embed_readings(model, sensor: spectral.Sensor, readings: Tensor, rt) -> Tensor:
    feats = ev.band_feats(model, sensor, rt.device)
    return ev.embed(model, "sensor", feats, readings, rt, sensor=sensor)[0]


def probe_features(model, sensor: spectral.Sensor, readings: Tensor, rt) -> Tensor:
    """What the transfer probe reads of `readings` [N, K]: the sensor embedding, then (for a
    model with a cycle prior) that prior, the model's estimate of the lab spectrum from the
    reading and the sensor's known responses alone (nothing fitted on the sensor)."""
    emb = embed_readings(model, sensor, readings, rt)
    if model.prior_kind == "none":
        return emb
    args = model.prior_args(sensor)
    with torch.no_grad():
        prior = model.prior(readings.float(), **args)
    return torch.cat([emb, prior.float()], dim=1)


@dataclass
class TransferData:
    """One transfer case: readings of the fitting part by each training sensor, and of the test
    part by the target sensor, all at one noise level; the lab spectra and labels of both."""

    fit_readings: list[tuple[spectral.Sensor, Tensor]]
    test_readings: Tensor  # [T, K] by `sensor`
    fit_values: Tensor  # [F, L] lab spectra of the fitting part
    test_values: Tensor  # [T, L]
    y_fit: np.ndarray
    y_test: np.ndarray
    sensor: spectral.Sensor
    matrix: Tensor  # [K, L] the target sensor's band matrix on the lab grid


def transfer_data(
    lab: spectral.LabLibrary,
    labels: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    train_sensors: list[spectral.Sensor],
    sensor: spectral.Sensor,
    noise: float,
    seed: int,
) -> TransferData:
    """Fit on `split`[0] as read by `train_sensors`, test on `split`[1] as read by `sensor`."""
    fit_idx, test_idx = (np.asarray(i) for i in split)
    values = torch.from_numpy(lab.values)
    fit_v, test_v = values[fit_idx], values[test_idx]
    gen = torch.Generator().manual_seed(seed)
    fit = [
        (s, spectral.simulate(fit_v, sensor_matrix(s, lab.wavelengths), noise, gen))
        for s in train_sensors
    ]
    m = sensor_matrix(sensor, lab.wavelengths)
    test = spectral.simulate(test_v, m, noise, gen)
    return TransferData(fit, test, fit_v, test_v, labels[fit_idx], labels[test_idx], sensor, m)


def fit_features(model, data: TransferData, rt) -> Tensor:
    """The probe features of every training sensor's readings of the fitting part, stacked."""
    return torch.cat([probe_features(model, s, r, rt) for s, r in data.fit_readings])


def fit_probes(model, data: TransferData, rt, fit_x: Tensor | None = None) -> dict:
    """The transfer probes, fitted on the training sensors' readings only (`fit_x`:
    fit_features, if already at hand): on the probe features, and on the embedding alone."""
    x = fit_features(model, data, rt) if fit_x is None else fit_x
    y = np.concatenate([data.y_fit] * len(data.fit_readings))
    e = model.sensor.proj.out_features
    return {"features": probe.fit(x, y), "embedding": probe.fit(x[:, :e], y)}


def transfer(model, data: TransferData, rt, probes: dict | None = None) -> dict[str, float]:
    """`transfer_accuracy`: a probe fitted on the probe features of the training sensors'
    readings, scored on the target sensor's (`embedding_transfer_accuracy`: the embedding
    alone; `probes`: fit_probes, if already at hand); `physics_transfer_accuracy`: a probe
    fitted on the fitting spectra simulated through the target sensor's own responses
    (noiseless), scored on its readings; `majority_accuracy`: the commonest fitting class."""
    probes = fit_probes(model, data, rt) if probes is None else probes
    test_x = probe_features(model, data.sensor, data.test_readings, rt)
    e = model.sensor.proj.out_features
    known = probe.fit(spectral.simulate(data.fit_values, data.matrix, 0.0), data.y_fit)
    classes, counts = np.unique(data.y_fit, return_counts=True)
    return {
        "transfer_accuracy": probe.accuracy(probes["features"], test_x, data.y_test),
        "embedding_transfer_accuracy": probe.accuracy(
            probes["embedding"], test_x[:, :e], data.y_test
        ),
        "physics_transfer_accuracy": probe.accuracy(known, data.test_readings, data.y_test),
        "majority_accuracy": float(np.mean(data.y_test == classes[counts.argmax()])),
        "n_classes": int(len(classes)),
    }
