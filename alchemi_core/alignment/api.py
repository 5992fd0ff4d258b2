"""The alignment stack's public face: the CLI and the Prefect tasks call these."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alchemi_core import runtime
from alchemi_core.alignment import evaluation as ev
from alchemi_core.alignment import figures as alignment_figures
from alchemi_core.alignment import retrieval, spectral, transfer
from alchemi_core.alignment.config import AlignmentConfig
from alchemi_core.alignment.load import cpu_runtime, load_run
from alchemi_core.errors import UserError
from alchemi_core.output_plan import OutputPlan


def train(
    config: str | Path | AlignmentConfig,
    overrides: list[str] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    tracker: Any = None,
):
    """Train (or resume, or reuse a finished run of the same config and inputs): a RunResult."""
    from alchemi_core import assembly, distributed
    from alchemi_core.alignment.config import load_alignment_config

    source = "<config>" if isinstance(config, AlignmentConfig) else str(config)
    if not isinstance(config, AlignmentConfig):
        config = load_alignment_config(config, overrides)
    distributed.init(runtime.device_name(config))  # under torchrun: join the ranks (else no-op)
    from alchemi_core.alignment.trainer import AlignmentTrainer

    built = assembly.build_alignment(config, source, seed, AlignmentTrainer)
    return built.trainer.fit(tracker, overwrite)


def lab_tokens(model, ckpt: dict, lab: spectral.LabLibrary, device) -> tuple:
    """Lab-tower band features and values of a lab table, at about the token spacing the
    model was trained with (every k-th wavelength)."""
    grid = np.asarray(ckpt["lab_wavelengths"])
    k = max(1, round(float(np.median(np.diff(grid)) / np.median(np.diff(lab.wavelengths)))))
    wl, fwhm = lab.wavelengths[::k], np.gradient(lab.wavelengths)[::k] * k
    values = torch.from_numpy(lab.values)[:, ::k].contiguous()
    return ev.lab_feats(model, wl, fwhm, device), values


def evaluate(
    run_dir: str | Path,
    lab_path: str | Path,
    sensor_path: str | Path,
    noise: float | None = None,
    seed: int = 0,
    which: str = "best",
    plots: str | Path | None = None,
    labels: str | None = None,
    rerank: int | None = None,
) -> dict[str, Any]:
    """Sensor->lab retrieval among every spectrum of `lab_path`, the cycle head's error and
    the physics limit (`physics_top1`), the model's retrieval within its sensor tower
    (`sensor_space_top1`, and with a cycle head `sensor_space_fused_top1`:
    transfer.sensor_space_scores); with `rerank` (else the run's `rerank.candidates`; 0: off),
    the model's candidates re-ranked by the known responses (`rerank_top1`); with `labels`
    (a column of the lab table), the linear probe's transfer accuracy from the run's
    training sensors; with `plots` (a folder), also its pictures there (`plots` lists them)."""
    if noise is not None and not (math.isfinite(noise) and noise >= 0):
        raise UserError(f"must be a finite number >= 0, got {noise}", "--noise")
    if rerank is not None and rerank < 0:
        raise UserError(f"must be 0 (off) or a number of candidates, got {rerank}", "--rerank")
    lab = spectral.load_lab(lab_path, labels)  # the inputs first: cheap, and the user's to fix
    classes = lab.label(labels, lab_path) if labels else None
    sensor = spectral.load_sensor(sensor_path)
    if plots is not None:  # the output policy, before any work: nothing of the inputs replaced
        plan = OutputPlan("command line", {"--lab": lab_path, "--sensor": sensor_path})
        for name in alignment_figures.NAMES:
            plan.add(Path(plots) / f"{Path(sensor_path).stem}_{name}", "--plots")
    cfg, model, ckpt = load_run(run_dir, which)
    rt = cpu_runtime(seed)
    if rerank is None:
        rerank = cfg.rerank.candidates if cfg.rerank else 0
    matrix = torch.from_numpy(spectral.band_matrix(sensor, lab.wavelengths)).float()
    values = torch.from_numpy(lab.values)
    gen = torch.Generator().manual_seed(seed)
    noise = cfg.data.noise if noise is None else noise
    reading = spectral.simulate(values, matrix, noise, gen).float()
    feats, lab_values = lab_tokens(model, ckpt, lab, rt.device)
    lab_emb, _ = ev.embed(model, "lab", feats, lab_values, rt)
    feats = ev.band_feats(model, sensor, rt.device)
    emb, heads = ev.embed(model, "sensor", feats, reading, rt, sensor=sensor)
    scores = retrieval.cosine_scores(emb, lab_emb)
    out: dict[str, Any] = retrieval.retrieval_metrics(scores)
    out.update(rmse=None, sam_deg=None)
    if "cycle" in heads:
        grid = model.cycle_grid.numpy()
        pred = np.stack([np.interp(lab.wavelengths, grid, row) for row in heads["cycle"].numpy()])
        pred_t = torch.from_numpy(pred)
        out.update(rmse=retrieval.rmse(pred_t, values), sam_deg=retrieval.sam_deg(pred_t, values))
        l2 = retrieval.neg_l2_scores(pred_t, values)
        fused = retrieval.fused_scores(retrieval.cosine_scores(emb, lab_emb), l2)
        out["cycle_top1"] = retrieval.retrieval_metrics(l2)["top1"]
        out["fused_top1"] = retrieval.retrieval_metrics(fused)["top1"]
    known = transfer.physics(reading, values, matrix)
    within = transfer.sensor_space_scores(model, sensor, reading, values, matrix, rt)
    space = retrieval.retrieval_metrics(within["cosine"])
    out.update(sensor_space_top1=space["top1"], sensor_space_recall_at_5=space["recall_at_5"])
    if "fused" in within:
        fused_space = retrieval.retrieval_metrics(within["fused"])
        out.update(
            sensor_space_fused_top1=fused_space["top1"],
            sensor_space_fused_recall_at_5=fused_space["recall_at_5"],
        )
    out.update(ev.physics_rows(scores, known, rerank), rerank_candidates=rerank or None)
    if classes is not None:
        train_sensors = [spectral.load_sensor(p) for p in cfg.data.sensor_paths]
        # the run's own train/val split of the lab table: the probe fits on what it trained on
        parts = spectral.split(len(lab.ids), cfg.data.val_fraction, cfg.data.split_seed)
        out["labels"] = labels
        data = transfer.transfer_data(lab, classes, parts, train_sensors, sensor, noise, seed)
        out.update(transfer.transfer(model, data, rt))
    out.update(
        sensor=sensor.name, noise=noise, seed=seed, checkpoint=which, epoch=int(ckpt["epoch"])
    )
    if plots is not None:
        cycle = (sensor.name, pred) if "cycle" in heads else None
        ranks = retrieval.ranks(retrieval.cosine_scores(emb, lab_emb)).numpy()
        out["plots"] = eval_pictures(plan, Path(plots), cfg, lab_path, lab, ranks, cycle, out)
    return out


def eval_pictures(
    plan: OutputPlan, out_dir: Path, cfg, lab_path, lab, ranks, cycle, out: dict
) -> list[str]:
    """The evaluated sensor's retrieval ranks and, with a cycle head, its reconstructions
    (`cycle` = (sensor, [N, L] on the lab table's wavelengths)), in `out_dir`: each drawn to a
    temp file beside it, all renamed into place at the end (`plan`), or none."""
    name = out["sensor"]
    trained = {Path(p).stem for p in cfg.data.sensor_paths}
    split = f"{len(lab.values)} spectra of {Path(lab_path).name}, noise {out['noise']:g}, "
    split += f"epoch {out['epoch']} ({out['checkpoint']})"
    args = ({name: ranks}, set() if name in trained else {name}, split, lab.wavelengths)
    with plan:  # a write that fails: a UserError at --plots, and nothing left behind
        drawn = alignment_figures.pictures(
            out_dir, *args, lab.values, cycle, prefix=f"{name}_", write=plan.write
        )
    return [str(p) for p in drawn]
