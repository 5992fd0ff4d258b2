"""Validation of an alignment model on one sensor: retrieval, cycle and band-depth metrics."""

from __future__ import annotations

import numpy as np
import torch

from alchemi_core.alignment import retrieval
from alchemi_core.alignment.model import AlignmentModel


def band_feats(model: AlignmentModel, sensor, device) -> torch.Tensor:
    """Token band features of a sensor (centre/FWHM, or its response curve)."""
    t = model.tokenizer
    response = (
        torch.tensor(sensor.wavelengths, dtype=torch.float32, device=device),
        torch.tensor(sensor.responses, dtype=torch.float32, device=device),
    )
    return t.band_features(
        torch.tensor(sensor.centres, dtype=torch.float32, device=device),
        torch.tensor(sensor.fwhms, dtype=torch.float32, device=device),
        response,
    )


def lab_feats(model: AlignmentModel, wl: np.ndarray, fwhm: np.ndarray, device) -> torch.Tensor:
    return model.tokenizer.band_features(
        torch.tensor(wl, dtype=torch.float32, device=device),
        torch.tensor(fwhm, dtype=torch.float32, device=device),
    )


@torch.no_grad()
def embed(
    model, tower, feats, values, rt, batch: int = 512, sensor=None
) -> tuple[torch.Tensor, dict]:
    """Embeddings [N, E] (float32, CPU) and the heads' outputs for the sensor tower
    (`sensor`: the spectral.Sensor of the readings, for the cycle head's prior)."""
    embs, heads = [], {}
    args = model.prior_args(sensor) if tower == "sensor" and sensor is not None else {}
    args = {k: a.to(rt.device) for k, a in args.items()}
    for i in range(0, len(values), batch):
        v = values[i : i + batch].to(rt.device, rt.dtype)
        with rt.autocast():
            if tower == "sensor":
                e, h = model.encode_sensor(feats.to(rt.dtype), v, **args)
            else:
                e, h = model.embed(tower, feats.to(rt.dtype), v), {}
        embs.append(e.float().cpu())
        for k, out in h.items():
            heads.setdefault(k, []).append(out.float().cpu())
    return torch.cat(embs), {k: torch.cat(v) for k, v in heads.items()}


def sensor_metrics(
    lab_emb: torch.Tensor,
    sensor_emb: torch.Tensor,
    heads: dict[str, torch.Tensor],
    lab_target: torch.Tensor | None,
    depth_target: torch.Tensor | None,
    known: torch.Tensor | None = None,
    candidates: int | None = None,
) -> dict[str, float]:
    """Retrieval (top1, recall_at_5, mean_rank), the heads' errors and, with the
    known-response scores `known`, the physics limit and the re-ranked top-1 (`candidates`)."""
    scores = retrieval.cosine_scores(sensor_emb, lab_emb)
    out = retrieval.retrieval_metrics(scores)
    out.pop("n")
    if known is not None:
        out.update(physics_rows(scores, known, candidates))
    if "cycle" in heads and lab_target is not None:
        out["rmse"] = retrieval.rmse(heads["cycle"], lab_target)
        out["sam_deg"] = retrieval.sam_deg(heads["cycle"], lab_target)
    if "depth" in heads and depth_target is not None:
        out["banddepth_mean_abs_err"] = retrieval.mean_abs_error(heads["depth"], depth_target)
    return out


def physics_rows(scores: torch.Tensor, known: torch.Tensor, candidates: int | None) -> dict:
    """`physics_top1` (the limit) and, with `candidates`, `rerank_top1`: the model's
    `candidates` best keys by `scores` re-ordered by the known-response scores `known`."""
    out = {"physics_top1": retrieval.retrieval_metrics(known)["top1"]}
    if candidates:
        m = retrieval.retrieval_metrics(retrieval.rerank(scores, known, candidates))
        out.update(rerank_top1=m["top1"], rerank_recall_at_5=m["recall_at_5"])
    return out
