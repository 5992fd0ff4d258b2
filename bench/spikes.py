"""Loss spikes of the shipped recipes: seeds x threads, the worst val_loss / best-before ratio.

A spike is a val_loss more than 3x the best val_loss of the epochs before it. Each run trains a
shipped config (MLflow off) in a scratch folder with `global.threads` set, and reads its
metrics.jsonl. --epochs caps the epochs (the demo's spike showed at epoch 24 of ~60).
The VAE and SAE stacks only: the spectral stacks log no val_loss (alignment: retrieval metrics
every val_frequency epochs; MAE: steps); the alignment trainer clips gradients by default
(trainer.grad_clip_norm 1.0), the MAE one does not. Not covered here.

  OMP_NUM_THREADS=2 .venv/bin/python bench/spikes.py [--only vae,sae,...] [--seeds 42,1,2,3,4]
      [--threads 1,2] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import ROOT, table

from alchemi_core import api

SPIKE = 3.0
RECIPES = {  # name: (config, data sets it reads, extra overrides)
    "vae": ("configs/vae/diamonds.yaml", ["diamonds"], []),
    "vae_medexp": ("configs/vae/medexp.yaml", ["medexp"], []),
    "vae_ofp": ("configs/vae/ofp.yaml", ["ofp"], []),
    "sae": ("configs/sae/diamonds.yaml", ["diamonds"], []),
}


def worst_ratio(values: list[float]) -> tuple[float, int]:
    """(max over epochs of val_loss / min of the val_losses before it, its epoch; from 1)."""
    worst, at, best = 0.0, 0, None
    for i, v in enumerate(values):
        if best is not None and best > 0 and v / best > worst:
            worst, at = v / best, i + 1
        best = v if best is None else min(best, v)
    return worst, at


def val_losses(run_dir: str) -> list[float]:
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [r["val_loss"] for r in rows if "val_loss" in r]


def run_one(
    config: str, seed: int, threads: int, epochs: int | None, extra: list[str]
) -> tuple[float, int, int]:
    sets = ["mlflow=null", f"experiment.seed={seed}", f"global.threads={threads}", *extra]
    sets += [f"train.epochs={epochs}"] if epochs else []
    res = api.train(ROOT / config, sets, overwrite=True)
    losses = val_losses(res.run_dir)
    return (*worst_ratio(losses), len(losses))


def run(
    names: list[str], seeds: list[int], threads: list[int], epochs: int | None, workdir: Path
) -> list[dict]:
    rows = []
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    for name in names:
        config, sets, extra = RECIPES[name]
        for d in sets:
            if not (workdir / "data" / d).exists():
                (workdir / "data" / d).symlink_to(ROOT / "data" / d)
        if name == "sae":  # the SAE reads the demo VAE's embeddings (30 epochs are enough)
            api.train(ROOT / RECIPES["vae"][0], ["mlflow=null", "train.epochs=30"])
            api.extract(ROOT / "configs/extract/diamonds.yaml")
        cells, worst = {}, 0.0
        for t in threads:
            for s in seeds:
                ratio, at, n = run_one(config, s, t, epochs, extra)
                cells[f"s{s}/t{t}"] = f"{ratio:.2f}@{at}" if at else "-"
                worst = max(worst, ratio)
                print(
                    f"{name} seed {s} threads {t}: worst ratio {ratio:.3f} at epoch {at} of {n}",
                    flush=True,
                )
        rows.append({"recipe": name, "worst": round(worst, 3), "spike": worst > SPIKE, **cells})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(RECIPES))
    p.add_argument("--seeds", default="42,1,2,3,4")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--workdir", default=None)
    a = p.parse_args(argv)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="alchemi-spikes-"))
    work.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(work)
    try:
        rows = run(a.only.split(","), [int(x) for x in a.seeds.split(",")],
                   [int(x) for x in a.threads.split(",")], a.epochs, work)  # fmt: skip
    finally:
        os.chdir(here)
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(
        table(rows, f"\nworst val_loss / best-before ratio (spike: > {SPIKE}); cell: ratio@epoch")
    )
    return 0 if not any(r["spike"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
