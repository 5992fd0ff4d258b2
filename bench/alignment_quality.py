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
  ceiling   nearest neighbour in simulated sensor space with the known responses (noisy
            query vs noiseless keys, L2): what the band values alone allow

  OMP_NUM_THREADS=1 .venv/bin/python bench/alignment_quality.py [--epochs N] [--reuse]
      [--set k=v ...] [--tag SUFFIX]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import ROOT, row, table

from alchemi_core.alignment import api as align_api
from alchemi_core.alignment import retrieval, spectral
from alchemi_core.alignment.config import load_alignment_config

CONFIG = ROOT / "configs/phase2/alignment.yaml"
NOISES = (0.0, 0.01, 0.03)


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1e-4) -> np.ndarray:
    x1 = np.hstack([x, np.ones((len(x), 1))])
    reg = alpha * len(x) * np.eye(x1.shape[1])
    reg[-1, -1] = 0
    return np.linalg.solve(x1.T @ x1 + reg, x1.T @ y)


def ridge_predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))]) @ w


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
    clean = spectral.simulate(target, m, 0.0).nan_to_num()
    ceiling = retrieval.retrieval_metrics(retrieval.neg_l2_scores(x_val, clean))
    return {"ridge": ridge, "ceiling": ceiling}


def train(name: str, overrides: list[str], epochs: int | None, reuse: bool) -> Path:
    sets = ["mlflow=null", *overrides, f"experiment.name={name}"]
    sets.append("experiment.output_dir=experiments/bench")
    if epochs:
        sets.append(f"trainer.epochs={epochs}")
    result = align_api.train(CONFIG, [*sets, *overrides], overwrite=not reuse)
    return Path(result["run_dir"])


def measure(sets: list[str], epochs: int | None, reuse: bool, tag: str = "") -> list[dict]:
    """Train the width-aware and the centre-only model, then score every sensor and noise."""
    if not (ROOT / "data/spectra/lab.parquet").exists():
        from alchemi_core.alignment.prepare_spectra import prepare

        prepare(ROOT / "data/spectra")
    cfg = load_alignment_config(CONFIG, sets)
    runs = {
        "ours": train(f"align_width{tag}", sets, epochs, reuse),
        "centre": train(f"align_centre{tag}", [*sets, "tokenizer.use_width=false"], epochs, reuse),
    }
    lab = spectral.load_lab(cfg.data.lab_path)
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
            ours = align_api.evaluate(runs["ours"], val_path, path, noise, seed)
            centre = align_api.evaluate(runs["centre"], val_path, path, noise, seed)
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
                "ceiling_top1": base["ceiling"]["top1"],
                "ours_r@5": ours["recall_at_5"],
                "ridge_r@5": base["ridge"]["recall_at_5"],
                "ours_rank": ours["mean_rank"],
                "ridge_rank": base["ridge"]["mean_rank"],
                "ours_sam": ours["sam_deg"],
                "ridge_sam": base["ridge"]["sam_deg"],
                "n": len(val_idx),
            })  # fmt: skip
    return raw


def run(quick: bool = False) -> list[dict]:
    """The four goals as bench rows (`make bench`; --quick trains 5 epochs, no verdict)."""
    sets = ["trainer.val_frequency=5"] if quick else []
    raw = measure(sets, 5 if quick else None, reuse=False, tag="_bench")
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
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=None, help="default: the config's")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs of the same config")
    ap.add_argument("--set", action="append", default=[], help="config overrides (k=v), both runs")
    ap.add_argument("--tag", default="", help="suffix of the run names (parallel probes)")
    args = ap.parse_args()
    raw = measure(args.set, args.epochs, args.reuse, args.tag)
    rows = [
        {k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items() if k != "n"}
        for r in raw
    ]
    n = raw[0]["n"]
    print(table(rows, f"alignment quality: sensor -> lab retrieval among {n} validation spectra"))
    print(json.dumps(goals(raw), indent=2))
    return 0


def goals(raw: list[dict]) -> dict:
    def mean(key, split, noise=None):
        v = [r[key] for r in raw if r["split"] == split and (noise is None or r["noise"] == noise)]
        return float(np.mean(v))

    held3, train3 = mean("ours_top1", "held-out", "3%"), mean("ours_top1", "train", "3%")
    fused3 = mean("fused_top1", "held-out", "3%")
    return {
        "fused_held_out_at_3pct_vs_ridge": [fused3, mean("ridge_top1", "held-out", "3%")],
        "fused_held_out_over_train_top1": mean("fused_top1", "held-out")
        / max(mean("fused_top1", "train"), 1e-9),
        "held_out_beats_ridge_at_3pct": [held3, mean("ridge_top1", "held-out", "3%")],
        "held_out_over_train_top1": mean("ours_top1", "held-out")
        / max(mean("ours_top1", "train"), 1e-9),
        "held_out_train_top1_at_3pct": [held3, train3],
        "width_vs_centre_held_out_top1": [
            mean("ours_top1", "held-out"),
            mean("centre_top1", "held-out"),
        ],
        "cycle_sam_vs_ridge_sam": [
            float(np.mean([r["ours_sam"] for r in raw])),
            float(np.mean([r["ridge_sam"] for r in raw])),
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
