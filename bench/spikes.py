"""Loss spikes of the shipped recipes: seeds x threads, the worst loss / best-before ratio.

A spike is a loss more than 3x the best loss of the epochs before it. Each run trains a shipped
config (MLflow off) in a scratch folder with `global.threads` set (torch's threads: 2 runs the
2-thread kernels even under `nice`), and reads its metrics.jsonl. The loss read:
  vae, vae_medexp, vae_ofp  val_loss per epoch (configs/vae/*.yaml)
  sae_demo                  val_loss per epoch: the demo's SAE (configs/pipelines/diamonds.yaml)
  sae                       val_loss per epoch: configs/sae/diamonds.yaml
  alignment                 train_loss per epoch (it logs no val_loss; its validation is
                            retrieval every 10 epochs): configs/phase2/alignment.yaml
  mae                       train_loss per logging interval, within each masking ratio (one MAE
                            per ratio): configs/train.mae.yaml
Both SAEs read the embeddings of the demo VAE at seed 42 on 1 thread (that run is the grid's
vae seed-42 1-thread cell), extracted once into the scratch folder.

Runs go seed by seed (every recipe at 42 on 1 and 2 threads first), and each finished run is
appended to --results (JSON lines, default bench/spikes.jsonl) at once, so a stopped grid keeps
what ran; a cell already there is not run again (--fresh starts over). bench/quality.py reads
that file for the worst ratio over the grid. --epochs caps every run (epochs; MAE: steps).

  nice -n 19 .venv/bin/python bench/spikes.py [--only vae,sae_demo,...] [--seeds 42,1,2,3,4]
      [--threads 1,2] [--epochs N] [--workdir DIR] [--results FILE] [--fresh] [--show]
  --show prints the results file as a recipe x (threads, seed) table and runs nothing.
  --read-unfinished RUN_DIR records the cell of a run that has not finished (too long for the
  time at hand), marked unfinished with the epochs it reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, table

from alchemi_core import api
from alchemi_core.alignment import api as align_api
from alchemi_core.config.pipeline import load_pipeline

SPIKE = 3.0
RESULTS = ROOT / "bench" / "spikes.jsonl"
SAE_INPUT = "sae_input"  # in the scratch folder: the demo VAE's embeddings
RECIPES = {  # name: (stack, config, the loss read)
    "vae": ("tabular", "configs/vae/diamonds.yaml", "val_loss"),
    "sae_demo": ("tabular", "configs/pipelines/diamonds.yaml", "val_loss"),
    "sae": ("tabular", "configs/sae/diamonds.yaml", "val_loss"),
    "mae": ("mae", "configs/train.mae.yaml", "train_loss"),
    "alignment": ("alignment", "configs/phase2/alignment.yaml", "train_loss"),
    "vae_ofp": ("tabular", "configs/vae/ofp.yaml", "val_loss"),
    "vae_medexp": ("tabular", "configs/vae/medexp.yaml", "val_loss"),
}
DATA = {"vae": "diamonds", "sae_demo": "diamonds", "sae": "diamonds", "vae_ofp": "ofp",
        "vae_medexp": "medexp", "alignment": "spectra"}  # fmt: skip


def worst_ratio(values: list[float]) -> tuple[float, int]:
    """(max over epochs of loss / min of the losses before it, its epoch; from 1)."""
    worst, at, best = 0.0, 0, None
    for i, v in enumerate(values):
        if best is not None and best > 0 and v / best > worst:
            worst, at = v / best, i + 1
        best = v if best is None else min(best, v)
    return worst, at


def metric_lines(run_dir: str) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def val_losses(run_dir: str, metric: str = "val_loss") -> list[float]:
    return [r[metric] for r in metric_lines(run_dir) if metric in r]


def mae_ratio(run_dir: str) -> tuple[float, int, int]:
    """The worst train_loss ratio within each masking ratio's run (each is a fresh MAE)."""
    lines = [r for r in metric_lines(run_dir) if "train_loss" in r]
    worst, at = 0.0, 0
    for m in sorted({r["mask_ratio"] for r in lines}):
        ours = [r for r in lines if r["mask_ratio"] == m]
        ratio, i = worst_ratio([r["train_loss"] for r in ours])
        if ratio > worst:
            worst, at = ratio, ours[i - 1]["epoch"]
    return worst, at, len(lines)


def sae_config(name: str, work: Path) -> Path:
    """The SAE config reading the scratch folder's embeddings (the demo's: the pipeline's block)."""
    if name == "sae_demo":
        data = load_pipeline(ROOT / RECIPES[name][1]).sae
    else:
        data = yaml.safe_load((ROOT / RECIPES[name][1]).read_text())
    for split in ("train", "val"):
        data[split]["data_path"] = f"./{SAE_INPUT}/{split}_embeddings.npy"
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def train(name: str, seed: int, threads: int, epochs: int | None, work: Path) -> dict:
    stack, config, metric = RECIPES[name]
    path = sae_config(name, work) if name.startswith("sae") else ROOT / config
    seed_key = "experiment.seed" if stack == "tabular" else "global.seed"
    # A folder per cell: the run identity leaves out the threads, so a second run of the same
    # config in one folder would be reused as already finished, not trained on 2 threads.
    folder = f"spikes_{name}_s{seed}_t{threads}" + (f"_c{epochs}" if epochs else "")
    sets = [f"{seed_key}={seed}", f"global.threads={threads}", f"experiment.name={folder}"]
    cap = {"tabular": "train.epochs", "alignment": "trainer.epochs", "mae": "train.steps"}[stack]
    sets += [f"{cap}={epochs}"] if epochs else []
    t0 = time.perf_counter()
    if stack == "tabular":
        res = api.train(path, ["mlflow=null", *sets], overwrite=True)
    elif stack == "alignment":
        res = align_api.train(path, sets, overwrite=True)
    else:
        res = api.pretrain_mae(path, sets, overwrite=True)
    if getattr(res, "status", "finished") != "finished":
        raise RuntimeError(f"{res.run_dir}: {res.status}, not trained by this run")
    return cell(name, seed, threads, epochs, res.run_dir, round(time.perf_counter() - t0))


def cell(name: str, seed: int, threads: int, epochs, run_dir: str, seconds, partial=False) -> dict:
    """A run's grid cell from its metrics.jsonl (partial: a run not finished, read so far)."""
    stack, _, metric = RECIPES[name]
    if stack == "mae":
        ratio, at, n = mae_ratio(run_dir)
    else:
        losses = val_losses(run_dir, metric)
        ratio, at, n = (*worst_ratio(losses), len(losses))
    return {"recipe": name, "seed": seed, "threads": threads, "ratio": round(ratio, 4),
            "at": at, "points": n, "loss": metric, "epochs_cap": epochs, "seconds": seconds,
            "run_dir": str(run_dir), **({"partial": True} if partial else {})}  # fmt: skip


def prepare(names: list[str], work: Path, results: Path, epochs: int | None) -> None:
    """Data links (prepared if missing) and, for the SAEs, the demo VAE's embeddings."""
    from alchemi_core.tabular.prepare import prepare as prepare_table

    (work / "data").mkdir(parents=True, exist_ok=True)
    for d in {DATA[n] for n in names if n in DATA}:
        out = ROOT / "data" / d
        if d == "spectra" and not (out / "lab.parquet").exists():
            from alchemi_core.alignment.prepare_spectra import prepare as prepare_spectra

            prepare_spectra(out)
        elif d != "spectra" and not (out / "cardinalities.json").exists():
            prepare_table(d, out)
        if not (work / "data" / d).exists():
            (work / "data" / d).symlink_to(out)
    if (
        any(n.startswith("sae") for n in names)
        and not (work / SAE_INPUT / "val_embeddings.npy").exists()
    ):
        row = train("vae", 42, 1, epochs, work)  # the grid's vae 42/1 cell, and the SAEs' input
        record(results, row)
        outs = [f"{s}.output=./{SAE_INPUT}/{s}_embeddings.npy" for s in ("train", "val", "test")]
        outs.append(f"checkpoint.path={row['run_dir']}/checkpoints")
        api.extract(ROOT / "configs/extract/diamonds.yaml", overrides=outs)


def done(results: Path) -> dict[tuple, dict]:
    if not results.exists():
        return {}
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {(r["recipe"], r["seed"], r["threads"], "partial" if r.get("partial") else r.get("epochs_cap")): r
            for r in rows}  # fmt: skip


def record(results: Path, row: dict) -> None:
    with results.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{row['recipe']} seed {row['seed']} threads {row['threads']}: worst ratio "
          f"{row['ratio']:.3f} at {row['at']} of {row['points']} ({row['seconds']}s)"
          + (" (unfinished)" if row.get("partial") else ""), flush=True)  # fmt: skip


def grid_rows(results: Path = RESULTS) -> list[dict]:
    """Per recipe: the worst ratio over the cells run, and each cell (seed/threads: ratio@epoch)."""
    out = []
    cells = sorted(done(results).values(), key=lambda r: (r["threads"], r["seed"] != 42, r["seed"]))
    for name in RECIPES:
        ours = [r for r in cells if r["recipe"] == name]
        if not ours:
            out.append(
                {"recipe": name, "runs": 0, "worst": None, "spike": None, "cells": "not run"}
            )
            continue
        worst = max(r["ratio"] for r in ours)
        text = ", ".join(f"s{r['seed']}/t{r['threads']} {r['ratio']:.2f}@{r['at']}"
                         + (f" (cap {r['epochs_cap']})" if r.get("epochs_cap") else "")
                         + (f" (unfinished: {r['points']} points)" if r.get("partial") else "")
                         for r in ours)  # fmt: skip
        out.append({"recipe": name, "runs": len(ours), "worst": worst, "spike": worst > SPIKE,
                    "cells": text})  # fmt: skip
    return out


def matrix(results: Path, seeds: list[int], threads: list[int]) -> list[dict]:
    """A row per recipe, a column per threads x seed: ratio@epoch ("-": not run; "c30": capped)."""
    cells, out = done(results), []
    for name in RECIPES:
        row = {"recipe": name}
        for t in threads:
            for s in seeds:
                got = [r for k, r in cells.items() if k[:3] == (name, s, t)]
                row[f"t{t} s{s}"] = " ".join(
                    f"{r['ratio']:.2f}@{r['at']}" + (f" c{r['epochs_cap']}" if r.get("epochs_cap") else "")
                    + (f" (unfinished, {r['points']} pts)" if r.get("partial") else "")
                    for r in got) or "-"  # fmt: skip
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(RECIPES))
    p.add_argument("--seeds", default="42,1,2,3,4")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder)")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--fresh", action="store_true", help="drop the results file first")
    p.add_argument("--read-unfinished", metavar="RUN_DIR",
                   help="record the cell (--only, --seeds, --threads: one each) of an unfinished run")  # fmt: skip
    p.add_argument("--show", action="store_true", help="print the results file's grid, run nothing")
    a = p.parse_args(argv)
    seeds, threads = [int(x) for x in a.seeds.split(",")], [int(x) for x in a.threads.split(",")]
    if a.read_unfinished:  # a run still going (or stopped): its cell as far as it got
        name, seed, t = a.only.split(",")[0], seeds[0], threads[0]
        record(Path(a.results), cell(name, seed, t, a.epochs, a.read_unfinished, None, True))
        return 0
    if a.show:
        print(table(matrix(Path(a.results), seeds, threads), "ratio@epoch per seed x threads"))
        return 0
    names = a.only.split(",")
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        print(f"error: --only: unknown recipe(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    results = Path(a.results).resolve()
    if a.fresh and results.exists():
        results.unlink()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="alchemi-spikes-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(work)  # the shipped configs use ./data and ./experiments
    failed: list[str] = []
    try:
        prepare(names, work, results, a.epochs)
        for seed in seeds:
            for t in threads:
                for name in names:
                    if (name, seed, t, a.epochs) in done(results):
                        continue
                    try:
                        record(results, train(name, seed, t, a.epochs, work))
                    except Exception as exc:  # noqa: BLE001  one failing cell does not stop the grid
                        failed.append(f"{name} seed {seed} threads {t}: {exc}")
                        print(f"error: {failed[-1]}", file=sys.stderr, flush=True)
    finally:
        os.chdir(here)
    rows = grid_rows(results)
    print(table(rows, f"\nworst loss / best-before ratio (spike: > {SPIKE}); cell: ratio@epoch"))
    return 0 if not failed and not any(r["spike"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
