"""Does the alignment model work on sensors it never saw? Real data, next to honest baselines.

Data: earthlib spectra and real response curves (`alchemi prepare-spectra`, run here if
data/spectra is missing). Trains configs/phase2/alignment.yaml twice: as shipped (width-aware
tokenizer) and with `tokenizer.use_width=false` (centre-only ablation); MLflow off.

Scored on the config's validation spectra (never trained on), per sensor and noise level
(multiplicative Gaussian, seeded), sensor -> lab retrieval among all of them:
  ours      the sensor tower's embedding vs the lab tower's (cosine); cycle head for RMSE/SAM
  cycle     retrieval through the cycle head: reconstructed lab spectrum -> nearest (L2)
  fused     embedding cosine and cycle L2 scores, each standardised per query, summed
  centre    the same with the centre-only tokenizer
  ridge     ridge regression sensor bands -> lab spectrum, fitted on the training spectra
            simulated through THAT sensor at that noise (it has seen the sensor; ours has
            not for held-out ones), then nearest lab spectrum (L2)
  physics   the known-response nearest neighbour (`align eval`'s physics_top1): every lab
            spectrum simulated through the sensor's own responses, noiseless, against the
            same noisy readings ours reads (L2): what the band values alone allow
  space     the model within its sensor tower (`align eval`'s sensor_space_top1): the
            reading's embedding against the sensor tower's embeddings of every lab spectrum
            simulated through the sensor's responses (cosine; the model's own scores)
  space_fused  that cosine fused with the L2 between the cycle head's lab spectrum of the
            reading and of each simulated reading (`align eval`'s sensor_space_fused_top1;
            the L2 half is mostly the head's Gaussian prior, a linear map of the reading)
  rerank    ours' `rerank.candidates` best candidates (fused scores) re-ordered by that same
            known-response distance (`align eval`'s rerank_top1)

Then the cross-sensor transfer of earthlib's class labels (bench/alignment_transfer.py).

  OMP_NUM_THREADS=1 .venv/bin/python bench/alignment_quality.py [--epochs N] [--reuse]
      [--set k=v ...] [--tag SUFFIX] [--run RUN_DIR] [--quick] [--out FILE]

writes bench/alignment_quality.json (--out): every row, the goals, when, source and command;
scripts/gen_docs.py renders its tables into docs/alignment-quality.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import alignment_transfer
import numpy as np
import torch
from alignment_transfer import ridge_fit, ridge_predict
from common import ROOT, command, load, row, stamp, table, write_json

from alchemi_core.alignment import api as align_api
from alchemi_core.alignment import retrieval, spectral
from alchemi_core.alignment.config import load_alignment_config

CONFIG = ROOT / "configs/phase2/alignment.yaml"
NOISES = (0.0, 0.01, 0.03)
OUT = ROOT / "bench/alignment_quality.json"


def baselines(lab, train_idx, val_idx, sensor, noise: float, seed: int) -> dict:
    m = torch.from_numpy(spectral.band_matrix(sensor, lab.wavelengths))
    values = torch.from_numpy(lab.values).double()
    keep = m.sum(1) > 0
    m = m[keep]
    gen = torch.Generator().manual_seed(seed)
    x_train = spectral.simulate(values[train_idx], m, noise, gen).nan_to_num().numpy()
    x_val = spectral.simulate(values[val_idx], m, noise, gen).nan_to_num()
    target = values[val_idx]
    w = ridge_fit(x_train, np.nan_to_num(values[train_idx].numpy()))
    pred = torch.from_numpy(ridge_predict(w, x_val.numpy()))
    ridge = retrieval.retrieval_metrics(retrieval.neg_l2_scores(pred, target))
    ridge.update(rmse=retrieval.rmse(pred, target), sam_deg=retrieval.sam_deg(pred, target))
    return {"ridge": ridge}


def train(name: str, overrides: list[str], epochs: int | None, reuse: bool) -> Path:
    sets = ["mlflow=null", *overrides, f"experiment.name={name}"]
    sets.append("experiment.output_dir=experiments/bench")
    if epochs:
        sets.append(f"trainer.epochs={epochs}")
    result = align_api.train(CONFIG, [*sets, *overrides], overwrite=not reuse)
    return Path(result["run_dir"])


def lab_table(path: Path) -> spectral.LabLibrary:
    """The prepared earthlib table `path` with its class labels (lab_labelled.* next to it;
    prepare-spectra runs first if either is missing)."""
    labelled = path.with_name(f"lab_labelled{path.suffix}")
    if not (path.exists() and labelled.exists()):
        from alchemi_core.alignment.prepare_spectra import prepare

        prepare(path.parent, fmt=path.suffix.lstrip("."))
    return spectral.load_lab(labelled)


def measure(
    sets: list[str],
    epochs: int | None,
    reuse: bool,
    tag: str = "",
    run_dir: str | None = None,
    quick: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Train the width-aware and the centre-only model (`run_dir`: score that finished run
    instead, no centre-only model), then score every sensor and noise: (retrieval rows,
    transfer rows; `quick`: transfer at 3% noise on LEVEL_2 only)."""
    cfg = load_alignment_config(CONFIG, sets)
    lab = lab_table(Path(cfg.data.lab_path))
    if run_dir:
        runs = {"ours": Path(run_dir), "centre": None}
    else:
        runs = {
            "ours": train(f"align_width{tag}", sets, epochs, reuse),
            "centre": train(
                f"align_centre{tag}", [*sets, "tokenizer.use_width=false"], epochs, reuse
            ),
        }
    k = cfg.rerank.candidates if cfg.rerank else 20
    train_idx, val_idx = spectral.split(len(lab.ids), cfg.data.val_fraction, cfg.data.split_seed)
    tmp = Path(tempfile.mkdtemp())
    val_path = tmp / "val_lab.parquet"
    import pandas as pd

    df = pd.DataFrame(lab.values[val_idx], columns=[f"{w:g}" for w in lab.wavelengths])
    df.insert(0, "id", [lab.ids[i] for i in val_idx])
    df.to_parquet(val_path, index=False)
    sensors = [(p, "train") for p in cfg.data.sensor_paths]
    sensors += [(p, "held-out") for p in cfg.data.eval_sensor_paths]
    raw = []
    for path, split in sensors:
        sensor = spectral.load_sensor(path)
        for noise in NOISES:
            seed = 1234
            ours = align_api.evaluate(runs["ours"], val_path, path, noise, seed, rerank=k)
            centre = {"top1": None}
            if runs["centre"]:
                centre = align_api.evaluate(runs["centre"], val_path, path, noise, seed, rerank=0)
            base = baselines(lab, train_idx, val_idx, sensor, noise, seed)
            raw.append({
                "sensor": sensor.name,
                "split": split,
                "noise": f"{noise:.0%}",
                "ours_top1": ours["top1"],
                "cycle_top1": ours["cycle_top1"],
                "fused_top1": ours["fused_top1"],
                "centre_top1": centre["top1"],
                "ridge_top1": base["ridge"]["top1"],
                "space_top1": ours["sensor_space_top1"],
                "space_fused_top1": ours["sensor_space_fused_top1"],
                "rerank_top1": ours["rerank_top1"],
                "physics_top1": ours["physics_top1"],
                "ours_r@5": ours["recall_at_5"],
                "ridge_r@5": base["ridge"]["recall_at_5"],
                "ours_rank": ours["mean_rank"],
                "ridge_rank": base["ridge"]["mean_rank"],
                "ours_sam": ours["sam_deg"],
                "ridge_sam": base["ridge"]["sam_deg"],
                "n": len(val_idx),
            })  # fmt: skip
    moved = alignment_transfer.measure(
        runs["ours"], lab, (train_idx, val_idx), cfg.data.sensor_paths,
        cfg.data.eval_sensor_paths, NOISES[-1:] if quick else NOISES,
        levels=alignment_transfer.LEVELS[:1] if quick else alignment_transfer.LEVELS,
    )  # fmt: skip
    return raw, moved


def run(quick: bool = False) -> list[dict]:
    """The goals as bench rows (`make bench`; --quick trains 5 epochs, no verdict)."""
    sets = ["trainer.val_frequency=5"] if quick else []
    raw, moved = measure(sets, 5 if quick else None, reuse=False, tag="_bench", quick=quick)
    g = goals(raw)
    note = f"{raw[0]['n']} validation spectra, mean top-1 over sensors" + (
        ", 5-epoch runs" if quick else ""
    )
    target = (lambda t: None) if quick else (lambda t: t)
    held, ridge = g["held_out_beats_ridge_at_3pct"]
    width, centre = g["width_vs_centre_held_out_top1"]
    sam, ridge_sam = g["cycle_sam_vs_ridge_sam"]
    top1 = {split: np.mean([r["ours_top1"] for r in raw if r["split"] == split])
            for split in ("train", "held-out")}  # fmt: skip
    return [
        row("alignment held-out top-1 at 3% vs ridge", ridge, held, "top-1", target(">= 1.0"),
            note + "; ridge fitted on each held-out sensor"),
        row("alignment held-out / training top-1", top1["train"], top1["held-out"], "top-1",
            target(">= 0.9"), note + "; all noise levels"),
        row("alignment width-aware vs centre-only", centre, width, "top-1", target(">= 1.0"),
            note + "; held-out sensors, all noise levels"),
        row("alignment cycle SAM vs ridge", ridge_sam, sam, "deg", target("<= 1.0"),
            "mean over every sensor and noise level"),
        *limit_rows(raw, target, note),
        *transfer_rows(moved, target, note),
    ]  # fmt: skip


def limit_rows(raw: list[dict], target, note: str) -> list[dict]:
    """Held-out top-1 at 3% over the known-response NN's: the worst sensor, per mode (the
    model's cosine, the model within its sensor tower, alone and fused with its cycle head,
    the re-ranking)."""
    held = [r for r in raw if r["split"] == "held-out" and r["noise"] == "3%"]
    rows = []
    modes = (
        ("ours_top1", "model"),
        ("space_top1", "sensor-space"),
        ("space_fused_top1", "sensor-space fused"),
        ("rerank_top1", "re-ranked"),
    )
    for key, what in modes:
        worst = min(held, key=lambda r: r[key] / max(r["physics_top1"], 1e-9))
        rows.append(row(
            f"alignment {what} top-1 / physics at 3%", worst["physics_top1"], worst[key],
            "top-1", target(">= 0.9"), f"{note}; worst held-out sensor ({worst['sensor']})",
        ))  # fmt: skip
    return rows


def transfer_rows(moved: list[dict], target, note: str) -> list[dict]:
    """Probe transfer: the worst held-out case against the bridge and the physics route."""
    vs_bridge = min(moved, key=lambda r: r["ours"] - r["bridge"])
    vs_physics = max(moved, key=lambda r: r["physics"] - r["ours"])

    def where(r: dict) -> str:
        return f"{r['sensor']} {r['labels']} {r['noise']}"

    return [
        row("alignment transfer accuracy vs bridge", vs_bridge["bridge"], vs_bridge["ours"],
            "acc", target(">= 1.0"), f"{note}; worst held-out case: {where(vs_bridge)}"),
        row("alignment transfer accuracy vs physics - 5 points", vs_physics["physics"] - 0.05,
            vs_physics["ours"], "acc", target(">= 1.0"),
            f"{note}; worst held-out case: {where(vs_physics)}"),
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=None, help="default: the config's")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs of the same config")
    ap.add_argument("--set", action="append", default=[], help="config overrides (k=v), both runs")
    ap.add_argument("--tag", default="", help="suffix of the run names (parallel probes)")
    ap.add_argument("--run", default=None, help="score this finished run (no training)")
    ap.add_argument("--quick", action="store_true", help="transfer at 3%% noise, LEVEL_2 only")
    ap.add_argument("--out", default=str(OUT), help="the result file (docs/alignment-quality.md)")
    args = ap.parse_args()
    t0, source = (
        time.perf_counter(),
        f"{describe(args.run, args.epochs, args.set)}; {load()} at the start",
    )
    raw, moved = measure(args.set, args.epochs, args.reuse, args.tag, args.run, args.quick)
    write_json(Path(args.out), {
        **stamp(), "source": source, "command": command(), "seconds": round(time.perf_counter() - t0),
        "quick": args.quick, "retrieval": raw, "transfer": moved,
        "goals": {**goals(raw), "transfer": alignment_transfer.goals(moved)},
    })  # fmt: skip
    n = raw[0]["n"]
    print(
        table(
            _cells(raw), f"alignment quality: sensor -> lab retrieval among {n} validation spectra"
        )
    )
    print(table(_cells(moved), f"cross-sensor transfer: probe accuracy on {n} validation spectra"))
    print(json.dumps({**goals(raw), "transfer": alignment_transfer.goals(moved)}, indent=2))
    return 0


def describe(run_dir: str | None, epochs: int | None, sets: list[str]) -> str:
    """What was scored: the finished run (its epochs and config, from run.json), or the two
    runs this invocation trains."""
    if not run_dir:
        n = epochs or load_alignment_config(CONFIG, sets).trainer.epochs
        return f"trained {CONFIG.relative_to(ROOT)} ({n} epochs), width-aware and centre-only"
    info = json.loads((Path(run_dir) / "run.json").read_text())
    return (f"scored the finished run {run_dir} ({info['status']}, {info['epoch']} epochs of "
            f"{info['config_path']}, config {info['config_hash']}); no centre-only model")  # fmt: skip


def _cells(rows: list[dict]) -> list[dict]:
    return [
        {k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items() if k != "n"}
        for r in rows
    ]


def goals(raw: list[dict]) -> dict:
    def mean(key, split, noise=None):
        v = [r[key] for r in raw if r["split"] == split and (noise is None or r["noise"] == noise)]
        return float(np.mean(v))

    held3, train3 = mean("ours_top1", "held-out", "3%"), mean("ours_top1", "train", "3%")
    fused3 = mean("fused_top1", "held-out", "3%")
    held_rows = [r for r in raw if r["split"] == "held-out" and r["noise"] == "3%"]
    return {
        "held_out_over_physics_at_3pct": {
            r["sensor"]: {
                "model": r["ours_top1"] / max(r["physics_top1"], 1e-9),
                "sensor_space": r["space_top1"] / max(r["physics_top1"], 1e-9),
                "sensor_space_fused": r["space_fused_top1"] / max(r["physics_top1"], 1e-9),
                "rerank": r["rerank_top1"] / max(r["physics_top1"], 1e-9),
            }
            for r in held_rows
        },
        "fused_held_out_at_3pct_vs_ridge": [fused3, mean("ridge_top1", "held-out", "3%")],
        "fused_held_out_over_train_top1": mean("fused_top1", "held-out")
        / max(mean("fused_top1", "train"), 1e-9),
        "held_out_beats_ridge_at_3pct": [held3, mean("ridge_top1", "held-out", "3%")],
        "held_out_over_train_top1": mean("ours_top1", "held-out")
        / max(mean("ours_top1", "train"), 1e-9),
        "held_out_train_top1_at_3pct": [held3, train3],
        "width_vs_centre_held_out_top1": [
            mean("ours_top1", "held-out"),
            mean("centre_top1", "held-out") if raw[0]["centre_top1"] is not None else None,
        ],
        "cycle_sam_vs_ridge_sam": [
            float(np.mean([r["ours_sam"] for r in raw])),
            float(np.mean([r["ridge_sam"] for r in raw])),
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
